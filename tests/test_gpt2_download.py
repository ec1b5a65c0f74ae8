"""GPT-2 weights downloads against a local server on 127.0.0.1 (never the internet): a full download, a
transfer that breaks off and resumes, a wrong checksum, wrong header shapes, 404, a server that is gone,
`--from` with a wrong file, and the Hub-announced SHA-256 used where no hash is pinned. The sizes are
shrunk (a tiny "gpt2-small" layout) so the files are a few kilobytes."""

from __future__ import annotations

import hashlib

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from tests.test_download import _Handler, closed_port_url, server  # noqa: F401  (server is a fixture)
from tutor.data import datasets, gpt2_files

TINY = (8, 2, 2)  # emb_dim, n_layers, n_heads


def tiny_checkpoint(path, emb=8, layers=2, vocab=50, context=16, break_shape=None):
    """A random fp32 GPT-2 state dict in the Hugging Face layout, saved as safetensors."""
    g = torch.Generator().manual_seed(0)
    tensors = {k: torch.randn(*shape, generator=g)
               for k, shape in gpt2_files.expected_shapes(emb, layers, vocab, context).items()}
    for i in range(layers):
        tensors[f"h.{i}.attn.bias"] = torch.tril(torch.ones(context, context)).view(1, 1, context, context)
    if break_shape:
        tensors[break_shape] = torch.zeros(3, 3)
    save_file(tensors, str(path))
    return path.read_bytes()


@pytest.fixture
def tiny_sizes(monkeypatch):
    monkeypatch.setitem(gpt2_files.SIZES, "gpt2-small", TINY)
    monkeypatch.setitem(gpt2_files.SIZES, "gpt2-medium", TINY)
    monkeypatch.setattr(gpt2_files, "VOCAB_SIZE", 50)
    monkeypatch.setattr(gpt2_files, "CONTEXT_LENGTH", 16)


class _HubHandler(_Handler):
    """Like the Hub: HEAD on a file answers with a redirect whose X-Linked-Etag is the file's SHA-256."""

    def do_HEAD(self):
        name = self.path.rsplit("/", 1)[-1]
        body = self.server.files.get(name)
        self.server.requests.append({"path": self.path, "range": None, "method": "HEAD"})
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(302)
        self.send_header("Location", f"/cdn/{name}")
        self.send_header("X-Linked-Etag", f'"{self.server.announce.get(name, hashlib.sha256(body).hexdigest())}"')
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def weights(tmp_path, monkeypatch, server, tiny_sizes):  # noqa: F811
    server.RequestHandlerClass = _HubHandler
    server.announce = {}
    monkeypatch.setenv("TUTOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TUTOR_OFFLINE", raising=False)
    monkeypatch.setenv("TUTOR_MIRROR", f"{server.url}/range")
    good = tiny_checkpoint(tmp_path / "good.safetensors")
    server.files = {"gpt2-small.safetensors": good, "gpt2-medium.safetensors": good}
    pinned = datasets.REMOTE_FILES["gpt2-small"]
    fake = datasets.RemoteFile(**{**pinned.__dict__, "sha256": hashlib.sha256(good).hexdigest(), "size": len(good)})
    monkeypatch.setitem(datasets.REMOTE_FILES, "gpt2-small", fake)
    return good


def cached(tmp_path, name="gpt2-small"):
    return tmp_path / "cache" / "data" / f"{name}.safetensors"


def test_the_pins_are_the_agreed_public_records():
    small = datasets.REMOTE_FILES["gpt2-small"]
    assert small.url == ("https://huggingface.co/openai-community/gpt2/resolve/"
                         "607a30d783dfa663caf39e06633721c8d4cfcd7e/model.safetensors")
    assert small.size == 548_105_171
    assert small.sha256 == "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707"
    xl = datasets.REMOTE_FILES["gpt2-xl"]
    assert "/resolve/15ea56dee5df4983c59b2538573817e1667135e2/" in xl.url
    assert xl.sha256 == "0f8b28eb05a8075f48b61b6f35332978c74fc7763fa9fb4051a1c30511736a6a"
    for name, rev in [("gpt2-medium", "6dcaa7a952f72f9298047fd5137cd6e4f05f41da"),
                      ("gpt2-large", "32b71b12589c2f8d625668d2335a01cac3249519")]:
        assert f"/resolve/{rev}/" in datasets.REMOTE_FILES[name].url and datasets.REMOTE_FILES[name].sha256 is None
    assert all("/resolve/main/" not in r.url for r in datasets.REMOTE_FILES.values())


def test_the_real_sizes_expect_the_real_parameter_counts():
    for name, params in [("gpt2-small", 124_439_808), ("gpt2-medium", 354_823_168),
                         ("gpt2-large", 774_030_080), ("gpt2-xl", 1_557_611_200)]:
        emb, layers, _ = gpt2_files.SIZES[name]
        total = 0
        for shape in gpt2_files.expected_shapes(emb, layers).values():
            n = 1
            for d in shape:
                n *= d
            total += n
        assert total == params, name
    # gpt2-small's pinned size is its parameters plus 12 fp32 causal masks of 1024², plus the header.
    assert 548_105_171 - (124_439_808 + 12 * 1024 * 1024) * 4 < 20_000


def test_full_download_checks_hash_and_header(weights, server, tmp_path):
    path = datasets.fetch("gpt2-small")
    assert path == cached(tmp_path) and path.read_bytes() == weights
    assert datasets.read_marker(path)["source"] == "pinned"
    assert [r["range"] for r in server.requests] == [None]
    assert datasets.fetch("gpt2-small") == path and len(server.requests) == 1  # cached, verified by marker


def test_a_cut_transfer_is_resumed(weights, server, tmp_path):
    server.cut_after = len(weights) // 3
    path = datasets.fetch("gpt2-small")
    assert path.read_bytes() == weights
    assert [r["range"] for r in server.requests] == [None, f"bytes={len(weights) // 3}-"]


def test_a_wrong_checksum_deletes_the_file_and_says_so(weights, server, tmp_path):
    server.files["gpt2-small.safetensors"] = weights[:-4] + b"    "
    with pytest.raises(datasets.DataError) as e:
        datasets.fetch("gpt2-small")
    assert "SHA-256" in str(e.value) and "discarded" in str(e.value), str(e.value)
    assert not cached(tmp_path).exists() and not cached(tmp_path).with_name("gpt2-small.safetensors.part").exists()


def test_wrong_header_shapes_delete_the_file_and_name_the_tensor(weights, server, tmp_path, monkeypatch):
    bad = tiny_checkpoint(tmp_path / "bad.safetensors", break_shape="h.1.mlp.c_fc.weight")
    server.files["gpt2-small.safetensors"] = bad
    remote = datasets.RemoteFile(**{**datasets.REMOTE_FILES["gpt2-small"].__dict__,
                                    "sha256": hashlib.sha256(bad).hexdigest(), "size": len(bad)})
    monkeypatch.setitem(datasets.REMOTE_FILES, "gpt2-small", remote)
    with pytest.raises(datasets.DataError) as e:
        datasets.fetch("gpt2-small")
    assert "h.1.mlp.c_fc.weight has shape [3, 3], expected [8, 32]" in str(e.value), str(e.value)
    assert not cached(tmp_path).exists()


def test_a_truncated_file_fails_the_header_check(tmp_path, tiny_sizes):
    path = tmp_path / "t.safetensors"
    data = tiny_checkpoint(path)
    path.write_bytes(data[:-100])
    with pytest.raises(gpt2_files.HeaderError, match="truncated"):
        gpt2_files.check_header(path, "gpt2-small")


def test_404_names_the_url_and_the_from_alternative(weights, server, tmp_path):
    server.files.clear()
    with pytest.raises(datasets.DataError) as e:
        datasets.fetch("gpt2-small")
    msg = str(e.value)
    assert "404" in msg and "tutor download gpt2-small --from FILE" in msg, msg
    assert datasets.REMOTE_FILES["gpt2-small"].url in msg, msg


def test_a_server_that_is_gone_gives_one_message_with_the_url_and_from(weights, monkeypatch, tmp_path):
    monkeypatch.setenv("TUTOR_MIRROR", closed_port_url().rsplit("/", 1)[0])
    with pytest.raises(datasets.DataError) as e:
        datasets.fetch("gpt2-small", timeout=5)
    msg = str(e.value)
    assert "offline" in msg and datasets.REMOTE_FILES["gpt2-small"].url in msg, msg
    assert "tutor download gpt2-small --from FILE" in msg and "--data builtin" not in msg, msg


def test_without_a_pinned_hash_the_hub_announced_sha256_is_checked_and_recorded(weights, server, tmp_path):
    path = datasets.fetch("gpt2-medium")
    assert path.read_bytes() == weights
    mark = datasets.read_marker(path)
    assert mark["sha256"] == hashlib.sha256(weights).hexdigest() and mark["source"].startswith("announced by")
    assert [r.get("method", "GET") for r in server.requests] == ["HEAD", "GET"]
    server.announce["gpt2-medium.safetensors"] = "1" * 64  # the Hub says another file: ours is not accepted
    path.unlink()
    with pytest.raises(datasets.DataError, match="SHA-256"):
        datasets.fetch("gpt2-medium")


def test_cli_download_and_from_with_a_wrong_file(weights, server, tmp_path):
    from tutor.cli import app

    runner = CliRunner()
    env = {"COLUMNS": "200", "TERM": "dumb"}
    wrong = tmp_path / "wrong.safetensors"
    tiny_checkpoint(wrong, emb=12)  # another size: every shape is off
    r = runner.invoke(app, ["download", "gpt2-small", "--from", str(wrong)], env=env)
    assert r.exit_code == 1 and "is not a gpt2-small checkpoint" in " ".join(r.output.split()), r.output
    text = tmp_path / "notes.txt"
    text.write_text("not weights at all")
    r = runner.invoke(app, ["download", "gpt2-small", "--from", str(text)], env=env)
    assert r.exit_code == 1 and "not a safetensors file" in " ".join(r.output.split()), r.output
    assert not cached(tmp_path).exists()
    good = tmp_path / "good.safetensors"
    r = runner.invoke(app, ["download", "gpt2-small", "--from", str(good)], env=env)
    assert r.exit_code == 0 and "Verified" in r.output, r.output
    assert cached(tmp_path).read_bytes() == weights
    r = runner.invoke(app, ["download", "gpt2-medium"], env=env)
    assert r.exit_code == 0 and "announced by" in r.output, r.output


def test_run_generate_offline_names_the_url_and_from(tmp_path, monkeypatch):
    from tutor.cli import app

    monkeypatch.setenv("TUTOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TUTOR_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(app, ["run", "generate", "--weights", "gpt2-large", "--prompt", "Hi", "--reference"],
                           env={"COLUMNS": "300", "TERM": "dumb"})
    out = " ".join(r.output.split())
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert datasets.REMOTE_FILES["gpt2-large"].url in out and "tutor download gpt2-large --from FILE" in out, out


def test_run_generate_refuses_real_gpt2_weights_that_fail_the_sanity_check(tmp_path, monkeypatch, server):  # noqa: F811
    """Weights that load but are nonsense (here random) must not produce text: the run says why instead."""
    from tutor.runs.common import RunError
    from tutor.runs.generate import GenerateConfig, generate_text

    monkeypatch.setitem(gpt2_files.SIZES, "gpt2-medium", TINY)
    monkeypatch.setattr(gpt2_files, "CONTEXT_LENGTH", 16)
    data = tiny_checkpoint(tmp_path / "m.safetensors", vocab=50257)
    server.RequestHandlerClass = _HubHandler
    server.announce = {}
    server.files = {"gpt2-medium.safetensors": data}
    monkeypatch.setenv("TUTOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TUTOR_OFFLINE", raising=False)
    monkeypatch.setenv("TUTOR_MIRROR", f"{server.url}/range")
    with pytest.raises(RunError) as e:
        generate_text(GenerateConfig(prompt="Hi", weights="gpt2-medium", max_new_tokens=3, device="cpu",
                                     use_reference=True))
    assert "Sanity check failed" in str(e.value) and "gpt2-medium" in str(e.value), str(e.value)
