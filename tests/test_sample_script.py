"""scripts/sample.py on tiny checkpoint folders: an .npz FID tools read, PNG files, a grid, an
interpolation GIF, labels, and one-line errors for bad input."""

import importlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import registry
import zoo
from zoo.sampling import latents

sample = importlib.import_module("zoo.cli.sample")


def _checkpoint(path: Path, sharpen: float = 1.0, **kwargs) -> Path:
    G = registry.get("generator", "sndcgan32")(width=0.0625, **kwargs)
    with torch.no_grad():  # some running statistics, as after training
        G(torch.randn(8, G.z_dim), torch.arange(8) % 10 if G.num_classes else None)
        for name, weight in G.named_parameters():
            if weight.ndim > 1 and name != "fc.weight":
                weight.mul_(sharpen)
    return zoo.save_pretrained(G.eval(), path, name="tiny")


@pytest.fixture(scope="module")
def gray(tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("gray") / "g", channels=1)


@pytest.fixture(scope="module")
def conditional(tmp_path_factory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("cond") / "c", num_classes=10)


def _main(*argv) -> int:
    return sample.main([*map(str, argv), "--no-progress"])


def test_npz_and_pngs_hold_the_same_images_whatever_the_batch_size(gray, tmp_path):
    assert _main(gray, "--num", 10, "--batch-size", 3, "--out", tmp_path / "a.npz") == 0
    assert _main(gray, "--num", 10, "--batch-size", 10, "--out", tmp_path / "pngs") == 0
    with np.load(tmp_path / "a.npz") as data:
        array = data["arr_0"]
    assert array.dtype == np.uint8 and array.shape == (10, 32, 32, 3)
    assert (array[..., 0] == array[..., 2]).all()  # gray repeated to RGB
    pngs = sorted((tmp_path / "pngs").iterdir())
    assert [p.name for p in pngs] == [f"{i:06d}.png" for i in range(10)]
    read = np.stack([np.asarray(Image.open(p)) for p in pngs])
    assert read.shape == (10, 32, 32)  # gray PNGs
    assert np.abs(read.astype(int) - array[..., 0]).max() <= 1  # rounding of another batch size

    G = zoo.load(gray)
    z, _ = latents(G.z_dim, 0, 0, 10, seed=0)
    with torch.no_grad():
        expected = torch.round((G(z).clamp(-1, 1) + 1) * 127.5)[:, 0].numpy()
    assert np.abs(expected - array[..., 0]).max() <= 1


def test_labels_grid_and_interpolation(conditional, tmp_path):
    assert _main(conditional, "--num", 4, "--labels", 3, "--out", tmp_path / "three.npz") == 0
    G = zoo.load(conditional)
    z, _ = latents(G.z_dim, 10, 0, 4, seed=0)
    with torch.no_grad():
        expected = torch.round((G(z, torch.full((4,), 3)).clamp(-1, 1) + 1) * 127.5)
    with np.load(tmp_path / "three.npz") as data:
        got = torch.from_numpy(data["arr_0"]).permute(0, 3, 1, 2).float()
    assert (got - expected).abs().max() <= 1

    # A grid without --labels: one class per column, 16 rounded up to 2 full rows of 10.
    assert _main(conditional, "--grid", "--num", 16, "--out", tmp_path / "grid.png") == 0
    with Image.open(tmp_path / "grid.png") as image:
        assert image.size == (10 * 32 + 11 * 2, 2 * 32 + 3 * 2)
        grid = np.asarray(image.convert("RGB")).astype(int)
    z, _ = latents(G.z_dim, 10, 0, 20, seed=0)
    for row, column in [(0, 0), (1, 3), (1, 9)]:
        i, top, left = row * 10 + column, 2 + row * 34, 2 + column * 34
        with torch.no_grad():
            image = G(z[i : i + 1], torch.tensor([column]))[0]
        expected = torch.round((image.clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).numpy()
        assert np.abs(grid[top : top + 32, left : left + 32] - expected).max() <= 1

    out = tmp_path / "path.gif"
    assert _main(conditional, "--interpolate", "0,1,2", "--steps", 4, "--out", out) == 0
    with Image.open(out) as gif:
        assert gif.n_frames == 7  # 0 -> 1 -> 2, seed 1's image once
        gif.seek(0)
        first = np.asarray(gif.convert("RGB")).astype(int)
    start = G.sample(1, labels=[0], seed=0)  # the path starts at seed 0's z
    start = torch.round((start.clamp(-1, 1) + 1) * 127.5)[0].permute(1, 2, 0).numpy()
    assert np.abs(first - start).mean() < 8  # GIF palettes quantize colours


def test_interpolation_row_follows_the_great_circle(tmp_path):
    """``--interpolate 0,5`` as a PNG: one row (2 px padding) of G(z_t), label 0, at
    t = 0, 1/7, ..., 1 on the great circle through the seeds' z (spherical interpolation,
    sin((1-t)θ)/sin θ · a + sin(tθ)/sin θ · b). An untrained tiny G barely reacts to the norm
    of z, so its conv weights are scaled up (the running statistics kept) until it does, as a
    trained G does: a linear path, shorter in the middle, then gives other images."""
    path = _checkpoint(tmp_path / "sharp", num_classes=10, sharpen=3.0)
    assert _main(path, "--interpolate", "0,5", "--out", tmp_path / "row.png") == 0
    G, seeds, steps = zoo.load(path), (0, 5), 8
    a, b = (G.sample_latents(1, torch.Generator().manual_seed(s))[0].double() for s in seeds)
    theta = torch.arccos(a @ b / (a.norm() * b.norm()))
    t = torch.linspace(0, 1, steps, dtype=torch.float64)[:, None]
    z = (torch.sin((1 - t) * theta) * a + torch.sin(t * theta) * b) / torch.sin(theta)
    with torch.no_grad():
        images = G(z.float(), torch.zeros(steps, dtype=torch.long))
    expected = torch.round((images.clamp(-1, 1) + 1) * 127.5).permute(0, 2, 3, 1).numpy()
    with Image.open(tmp_path / "row.png") as image:
        row = np.asarray(image.convert("RGB")).astype(int)
    assert row.shape == (32 + 2 * 2, steps * 32 + (steps + 1) * 2, 3)
    for i in range(steps):
        off = int(np.abs(row[2:34, 2 + i * 34 : 34 + i * 34] - expected[i]).max())
        assert off <= 1, f"image {i} is {off} levels off the slerp path"


@pytest.mark.parametrize(
    ("argv", "out", "message"),
    [
        (["--labels", "3"], "x.npz", "unconditional"),
        (["--num", "0"], "x.npz", "--num and --batch-size must be >= 1"),
        (["--grid"], "x.npz", "--grid writes one .png"),
        (["--interpolate", "1"], "x.png", "at least 2 seeds"),
        (["--interpolate", "1,x"], "x.png", "comma-separated integers"),
    ],
)
def test_bad_input_is_one_line(gray, tmp_path, capsys, argv, out, message):
    code = None
    try:
        code = _main(gray, *argv, "--out", tmp_path / out)
    except SystemExit as stop:  # argparse's own usage error
        code = stop.code
    assert code in (1, 2)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in err and "error: " in err and "Traceback" not in err
    assert not (tmp_path / out).exists()


def test_existing_output_and_unknown_model(gray, tmp_path, capsys):
    (tmp_path / "taken.npz").write_bytes(b"mine")
    assert _main(gray, "--num", 2, "--out", tmp_path / "taken.npz") == 1
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "taken.npz").read_bytes() == b"mine"
    assert _main(tmp_path / "nowhere", "--out", tmp_path / "y.npz") == 1
    assert "does not exist" in capsys.readouterr().err
