"""`signllm app` and `signllm render`: the page in a real headless browser on a real How2Sign clip, the same
results as `signllm align` / `translate`, clear messages for bad input, the overlay video's pixels, the Space."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from app_browser import download_links, launch_chromium, run_and_wait, running_app, submit, upload
from conftest import REPO_ROOT, fake_pose, shared_data_path
from signllm.datasets_scripts.subtitles import Subtitle, read_subtitles, write_subtitles
from signllm.train.cli import main
from signllm_tiny import tiny_model, tiny_processor

FPS = 25.0
CLIP = ("how2sign_samples", "clips_train_unlabeled", "_0-JkwZ9o4Q_10-5-rgb_front.mp4")  # 4.2 s, 1280x720, 24 fps
SCREENSHOT_ENV = "SIGNLLM_APP_SCREENSHOT"  # also save the page screenshot there (the README image)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A tiny random SignLLM (32-frame windows, ByT5 tokenizer) saved like a checkpoint."""
    path = tmp_path_factory.mktemp("tiny_signllm")
    tiny_model(seed=0).save_pretrained(path)
    tiny_processor().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def episode(tmp_path_factory) -> Path:
    """6 s of synthetic keypoints in pixels (.npz, the left hand lost for 1.6 s), subtitles and a reference."""
    path = tmp_path_factory.mktemp("episode")
    values, mask = fake_pose(150, seed=3, missing_hand_frames=40)
    values[..., :2] = values[..., :2] * 100 + 320
    values[~mask] = 0.0
    np.savez(path / "episode.npz", values=values, mask=mask, fps=np.float32(FPS))
    prior = [Subtitle(0.2, 1.6, "Hello and welcome."), Subtitle(1.2, 2.8, "Today we cook pasta."),
             Subtitle(2.6, 4.4, "First boil the water."), Subtitle(4.2, 5.8, "Then add salt.")]  # fmt: skip
    truth = [Subtitle(0.4, 1.4, prior[0].text), Subtitle(1.5, 2.6, prior[1].text),
             Subtitle(2.8, 4.0, prior[2].text), Subtitle(4.1, 5.6, prior[3].text)]  # fmt: skip
    write_subtitles(prior, path / "subtitles.vtt")
    write_subtitles(truth, path / "reference.vtt")
    return path


def _run_page(model_dir, input_file, subtitles=None, reference=None, workdir=None, max_seconds=120.0, backend="tasks"):
    from signllm.train.app.ui import run_page

    return run_page(str(input_file), subtitles and str(subtitles), reference and str(reference), str(model_dir),
                    backend, 3.0, 2, max_seconds=max_seconds, device="cpu", workdir=workdir)  # fmt: skip


def _files(outputs) -> dict[str, Path]:
    return {Path(path).name: Path(path) for path in outputs[5]}


# ------------------------------------------------------------------------------------------- same as the CLI


def test_app_results_are_the_cli_results(model_dir, episode, tmp_path):
    """Keypoints + subtitles + reference: the page's files are byte for byte what `signllm align` and
    `signllm translate --segments aligned.vtt` write; the page shows the lanes, translations and metrics."""
    outputs = _run_page(model_dir, episode / "episode.npz", episode / "subtitles.vtt", episode / "reference.vtt",
                        workdir=tmp_path / "app")  # fmt: skip
    status, video, timeline, translations, metrics, _ = outputs
    assert 'data-kind="info"' in status, status
    files = _files(outputs)
    assert set(files) == {"episode.pose", "aligned.vtt", "aligned.srt", "aligned.eaf", "alignment.json",
                          "metrics.json", "translations.vtt", "translations.json"}  # fmt: skip

    cli = tmp_path / "cli"
    cli.mkdir()
    common = ["--model", str(model_dir), "--num-beams", "2", "--no-progress", "--device", "cpu"]
    assert main(["align", str(episode / "episode.npz"), str(episode / "subtitles.vtt"), "-o", str(cli / "aligned.vtt"),
                 "--json", str(cli / "alignment.json"), *common]) == 0  # fmt: skip
    assert main(["translate", str(episode / "episode.npz"), "-o", str(cli / "translations.vtt"), "--segments",
                 str(cli / "aligned.vtt"), "--json", str(cli / "translations.json"), *common]) == 0  # fmt: skip
    assert files["aligned.vtt"].read_bytes() == (cli / "aligned.vtt").read_bytes()
    app_alignment, cli_alignment = (json.loads(p.read_text()) for p in (files["alignment.json"], cli / "alignment.json"))
    assert app_alignment["subtitles"] == cli_alignment["subtitles"]
    app_translations, cli_translations = (json.loads(p.read_text())
                                          for p in (files["translations.json"], cli / "translations.json"))  # fmt: skip
    assert app_translations["segments"] == cli_translations["segments"]
    assert files["translations.vtt"].read_bytes() == (cli / "translations.vtt").read_bytes()

    metrics_file = json.loads(files["metrics.json"].read_text())
    assert set(metrics_file) == {"prior", "aligned"} and 0 <= metrics_file["aligned"]["f1@0.50"] <= 100
    assert "f1@0.50" in metrics
    import pympi

    assert {"prior", "aligned", "confidence", "ground truth"} <= set(pympi.Elan.Eaf(str(files["aligned.eaf"])).get_tier_names())
    # lanes: one block per subtitle in prior / aligned / ground truth, one per segment in translation
    for lane in ("prior", "aligned", "ground truth", "translation"):
        assert timeline.split(f'data-lane="{lane}"')[1].split('data-lane=')[0].count("sl-block") == 4, lane
    assert timeline.count("sl-lost") >= 1  # the lost left hand shows on its detection lane
    for segment in app_translations["segments"]:
        assert f'data-seek="{segment["start"]:.3f}"' in translations
    assert Path(video).stat().st_size > 0


def test_app_without_subtitles_translates_fixed_segments_like_the_cli(model_dir, episode, tmp_path):
    outputs = _run_page(model_dir, episode / "episode.npz", workdir=tmp_path / "app")
    files = _files(outputs)
    assert "aligned.vtt" not in files and 'data-lane="aligned"' not in outputs[2]
    assert main(["translate", str(episode / "episode.npz"), "-o", str(tmp_path / "t.vtt"), "--segment-seconds", "3",
                 "--json", str(tmp_path / "t.json"), "--model", str(model_dir), "--num-beams", "2", "--no-progress",
                 "--device", "cpu"]) == 0  # fmt: skip
    app, cli = (json.loads(p.read_text())["segments"] for p in (files["translations.json"], tmp_path / "t.json"))
    assert app == cli and [(s["start"], s["end"]) for s in app] == [(0.0, 3.0), (3.0, 6.0)]


# ------------------------------------------------------------------------------------------------- messages


def _message(outputs) -> str:
    status = outputs[0]
    assert 'data-kind="error"' in status and "Traceback" not in status
    assert outputs[1] is None and outputs[5] is None  # nothing half-done is offered
    return status


def test_app_says_what_is_wrong_with_the_input(model_dir, episode, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    assert "Unsupported input file type" in _message(_run_page(model_dir, text))
    assert "WebVTT (.vtt) or SubRip (.srt)" in _message(_run_page(model_dir, episode / "episode.npz", text))
    empty = tmp_path / "empty.vtt"
    empty.write_text("WEBVTT\n\n")
    assert "holds no cues" in _message(_run_page(model_dir, episode / "episode.npz", empty))
    assert "add the subtitle file too" in _message(_run_page(model_dir, episode / "episode.npz", None,
                                                             episode / "reference.vtt"))  # fmt: skip
    assert "lasts 6.0 s; this app takes at most 2 s" in _message(_run_page(model_dir, episode / "episode.npz",
                                                                           max_seconds=2))  # fmt: skip
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 64)
    assert "Cannot read this video" in _message(_run_page(model_dir, broken))
    (tmp_path / "not_a_model").mkdir()
    assert "Could not load a SignLLM model" in _message(_run_page(tmp_path / "not_a_model", episode / "episode.npz"))
    assert "Model folder not found" in _message(_run_page(tmp_path / "missing", episode / "episode.npz"))
    # a Hub id that is not in the (offline) cache
    assert "Could not download the model" in _message(_run_page("nobody/no-such-signllm", episode / "episode.npz"))
    # too few cues in the reference to score
    short = tmp_path / "short.vtt"
    write_subtitles([Subtitle(0.4, 1.4, "Hello and welcome.")], short)
    assert "The reference has 1 cues" in _message(_run_page(model_dir, episode / "episode.npz",
                                                            episode / "subtitles.vtt", short))  # fmt: skip


def test_app_says_when_nobody_is_in_the_video(model_dir, tmp_path, legacy_python, monkeypatch):
    from signllm.processing.video import write_video

    monkeypatch.setenv("SIGNLLM_LEGACY_PYTHON", legacy_python)
    video = write_video(tmp_path / "empty_room.mp4", [np.full((96, 128, 3), 90, np.uint8)] * 12, fps=24.0)
    assert "No person was found" in _message(_run_page(model_dir, video, backend="legacy"))


# ---------------------------------------------------------------------------------------------------- render


def _decode(path: Path) -> tuple[list[np.ndarray], float]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return frames, float(stream.average_rate)


def _point_keypoints(num_frames: int, joint_xy: tuple[int, int]):
    """Keypoints with only the nose (joint 0) detected, at ``joint_xy``; every other joint is masked."""
    values = np.zeros((num_frames, 203, 3), np.float32)
    mask = np.zeros((num_frames, 203), bool)
    values[:, 0, :2] = joint_xy
    mask[:, 0] = True
    return values, mask


def test_render_draws_detected_joints_only_and_burns_subtitles(tmp_path):
    from signllm.processing.video import write_video

    video = write_video(tmp_path / "dark.mp4", [np.zeros((240, 320, 3), np.uint8)] * 48, fps=24.0)  # 2 s
    values, mask = _point_keypoints(50, (80, 60))
    np.savez(tmp_path / "points.npz", values=values, mask=mask, fps=np.float32(FPS))
    write_subtitles([Subtitle(1.0, 2.0, "Hello there")], tmp_path / "subs.vtt")
    out = tmp_path / "overlay.mp4"
    assert main(["render", str(video), "-o", str(out), "--keypoints", str(tmp_path / "points.npz"),
                 "--subtitles", str(tmp_path / "subs.vtt"), "--no-progress"]) == 0  # fmt: skip
    frames, fps = _decode(out)
    assert len(frames) == 50 and fps == FPS  # 2 s at 25 fps: the extraction's time grid
    assert frames[0].shape == (240, 320, 3)
    first, last = frames[5].astype(int), frames[40].astype(int)
    assert first[55:66, 75:86].max() > 150  # the detected joint is drawn where it is
    bright = np.argwhere(first[:212].max(axis=2) > 100)
    assert np.abs(bright - [60, 80]).max() <= 6  # and nothing else: no masked joint, no bone to one
    band = slice(150, 212)  # above the detection strip (4 rows of 6 px from y = 216), where the subtitle goes
    assert first[band].max() < 40 and last[band].max() > 200  # burned in only while the cue is on (1-2 s)
    assert last[220:, 60:].max() > 100  # the detection strip along the bottom


def test_overlay_leaves_masked_joints_out_wherever_they_are():
    """A masked joint is not drawn even when its stored coordinates are not zero, nor any bone touching it."""
    from signllm.train.app.overlay import draw_skeleton

    points = np.zeros((203, 2))
    mask = np.zeros(203, bool)
    points[[11, 12, 14]] = [(40, 50), (120, 50), (160, 90)]  # shoulders and right elbow
    mask[[11, 12]] = True  # the right elbow (14) is masked
    image = draw_skeleton(np.zeros((120, 200, 3), np.uint8), points, mask)
    assert image[50, 80].max() > 150  # the shoulder-shoulder bone
    assert image[85:96, 155:166].max() == 0 and image[70, 140].max() == 0  # no elbow, no shoulder-elbow bone


def test_render_portrait_video_and_keypoints_alone(tmp_path):
    from signllm.processing.video import write_video

    # a phone video: landscape frames with a 90-degree display rotation -> portrait output
    video = write_video(tmp_path / "phone.mp4", [np.zeros((120, 160, 3), np.uint8)] * 25, fps=25.0, rotation=90)
    values, mask = _point_keypoints(25, (60, 40))
    np.savez(tmp_path / "points.npz", values=values, mask=mask, fps=np.float32(FPS))
    assert main(["render", str(video), "-o", str(tmp_path / "portrait.mp4"), "--keypoints",
                 str(tmp_path / "points.npz"), "--no-progress"]) == 0  # fmt: skip
    frames, _ = _decode(tmp_path / "portrait.mp4")
    assert frames[0].shape == (160, 120, 3) and len(frames) == 25
    assert frames[3][35:46, 55:66].max() > 150
    # a WebM (VP9) browser recording
    webm = write_video(tmp_path / "recording.webm", [np.zeros((120, 160, 3), np.uint8)] * 25, fps=30.0,
                       codec="libvpx-vp9")  # fmt: skip
    assert main(["render", str(webm), "-o", str(tmp_path / "webm.mp4"), "--keypoints", str(tmp_path / "points.npz"),
                 "--no-progress"]) == 0  # fmt: skip
    frames, _ = _decode(tmp_path / "webm.mp4")
    assert len(frames) == 21 and frames[3][35:46, 55:66].max() > 150  # 25 frames at 30 fps = 0.83 s at 25 fps

    values, mask = fake_pose(30, seed=1)
    values[..., :2] = values[..., :2] * 100 + 300
    values[~mask] = 0.0
    np.savez(tmp_path / "clip.npz", values=values, mask=mask, fps=np.float32(FPS))
    assert main(["render", str(tmp_path / "clip.npz"), "-o", str(tmp_path / "canvas.mp4"), "--no-progress"]) == 0
    frames, fps = _decode(tmp_path / "canvas.mp4")
    assert len(frames) == 30 and fps == FPS and frames[0].max() > 150  # the skeleton on a blank canvas


def test_run_folders_are_pruned_after_an_hour(tmp_path, monkeypatch):
    from signllm.train.app.ui import new_workdir

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    old, recent = new_workdir(), new_workdir()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    fresh = new_workdir()
    assert not old.exists() and recent.exists() and fresh.exists() and fresh.parent == tmp_path / "signllm-app"


def test_render_reports_bad_input(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("x")
    assert main(["render", str(tmp_path / "a.txt"), "-o", str(tmp_path / "o.mp4")]) == 2
    assert "unsupported input" in capsys.readouterr().err
    assert main(["render", str(tmp_path / "a.txt"), "-o", str(tmp_path / "o.gif")]) == 2
    assert "must end in .mp4" in capsys.readouterr().err


def test_render_real_clip_with_extraction(tmp_path, legacy_python, monkeypatch):
    """A real How2Sign clip through `signllm render --backend legacy`: the extraction's frame count, a drawn body."""
    monkeypatch.setenv("SIGNLLM_LEGACY_PYTHON", legacy_python)
    clip = shared_data_path("how2sign_samples", "clips_train_unlabeled", "_BOJ9cYPRe4_12-8-rgb_front.mp4")  # 1.5 s
    out = tmp_path / "overlay.mp4"
    assert main(["render", str(clip), "-o", str(out), "--backend", "legacy", "--max-size", "640", "--no-progress"]) == 0
    frames, fps = _decode(out)
    source, _ = _decode(clip)
    assert fps == FPS and len(frames) == 39 and frames[0].shape == (360, 640, 3)  # ceil(37 / 24 * 25) frames
    import cv2

    plain = cv2.resize(source[0], (640, 360), interpolation=cv2.INTER_AREA).astype(int)
    changed = np.abs(frames[0].astype(int) - plain).max(axis=2) > 80
    assert changed[:300].sum() > 200  # skeleton pixels over the signer (above the strip)


# ----------------------------------------------------------------------------------------------------- Space


def test_write_space_stages_an_app_that_builds(model_dir, tmp_path):
    import yaml

    space = tmp_path / "space"
    assert main(["app", "--write-space", str(space), "--model", "me/signllm-bobsl"]) == 0
    front = (space / "README.md").read_text().split("---")[1]
    meta = yaml.safe_load(front)
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and meta["models"] == ["me/signllm-bobsl"]
    requirements = (space / "requirements.txt").read_text().splitlines()
    assert any(line.startswith("gradio") for line in requirements) and any(line.startswith("torch") for line in requirements)
    assert "max_seconds=60.0" in (space / "app.py").read_text()  # a Space's default limit
    assert (space / "signllm" / "train" / "app" / "ui.py").is_file()
    assert (space / "signllm" / "processing" / "extract.py").is_file()
    # the staged app.py imports the copied package (not the installed one) and builds its Blocks
    code = ("import app, gradio, signllm; assert isinstance(app.demo, gradio.Blocks); "
            "print(signllm.__file__)")  # fmt: skip
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": ""}
    done = subprocess.run([sys.executable, "-c", code], cwd=space, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert Path(done.stdout.strip()).resolve().is_relative_to(space.resolve())


# ------------------------------------------------------------------------------------------ in a real browser


@pytest.fixture
def app_url(model_dir, legacy_python, tmp_path):
    """`signllm app --model DIR --backend legacy` as a user starts it, on a free localhost port."""
    # one torch thread, as this test process runs (conftest): the page's numbers can then be compared exactly with
    # the commands run here (a different thread count changes float sums in the last bits)
    env = {**os.environ, "SIGNLLM_LEGACY_PYTHON": legacy_python, "GRADIO_ANALYTICS_ENABLED": "False",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    with running_app(["--model", str(model_dir), "--backend", "legacy"], env, tmp_path / "app.log") as url:
        yield url


def test_app_in_a_browser_on_a_real_clip(app_url, model_dir, tmp_path, capsys):
    """Upload a real How2Sign clip and subtitles in headless Chromium: a progress bar, then the translations, the
    lanes and a downloadable VTT appear, the overlay video plays, a click on a cue seeks it, a wrong file gets a
    message, and the files match `signllm align` / `translate` run on the page's own keypoints download."""
    import webvtt
    from playwright.sync_api import sync_playwright

    clip = shared_data_path(*CLIP)
    subtitles = tmp_path / "clip.vtt"
    write_subtitles([Subtitle(0.2, 1.8, "Hello, my name is Anna."), Subtitle(1.6, 3.0, "Today I will show you."),
                     Subtitle(3.0, 4.1, "Let us begin.")], subtitles)  # fmt: skip
    shots = tmp_path / "screenshots"
    downloaded = tmp_path / "downloads"
    pose_name = clip.with_suffix(".pose").name
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page, seconds = submit(browser, app_url, clip, subtitles)
            status = page.locator("#signllm-status .sl-message")
            assert status.get_attribute("data-kind") == "info", status.inner_text()

            # the alignment lanes: one block per subtitle in prior and aligned, four detection lanes
            timeline = page.locator("#signllm-timeline")
            assert timeline.locator('[data-lane="prior"] .sl-block').count() == 3
            assert timeline.locator('[data-lane="aligned"] .sl-block').count() == 3
            assert timeline.locator(".sl-detection").count() == 4
            # the overlay video plays in the browser: its duration is the clip's
            page.wait_for_function("() => { const v = document.querySelector('#signllm-video video'); "
                                   "return v && v.readyState >= 1; }", timeout=60_000)  # fmt: skip
            assert abs(page.evaluate("document.querySelector('#signllm-video video').duration") - 4.24) < 0.2
            # clicking a cue seeks the video to it
            cue = timeline.locator('[data-lane="aligned"] .sl-block').nth(2)
            target = float(cue.get_attribute("data-seek"))
            cue.click()
            page.wait_for_function(f"() => Math.abs(document.querySelector('#signllm-video video').currentTime - "
                                   f"{target}) < 0.05", timeout=10_000)  # fmt: skip

            # downloads, fetched as the browser would; the aligned VTT parses
            links = download_links(page)
            assert {"aligned.vtt", "aligned.srt", "aligned.eaf", "translations.json", pose_name} <= set(links)
            downloaded.mkdir()
            for name in ("aligned.vtt", "translations.json", pose_name):
                response = page.request.get(links[name])
                assert response.ok, name
                (downloaded / name).write_bytes(response.body())
            captions = webvtt.read(str(downloaded / "aligned.vtt"))
            assert sorted(c.text for c in captions) == sorted(cue.text for cue in read_subtitles(subtitles))

            # the translation text on the page is the translation in the JSON
            shown = [cell.inner_text() for cell in page.locator("#signllm-translations .sl-text").all()]
            segments = json.loads((downloaded / "translations.json").read_text())["segments"]
            assert len(shown) == len(segments) == 3 and any(s["text"].strip() for s in segments)
            assert shown == [s["text"] if s["text"].strip() else "(no usable translation)" for s in segments]

            shots.mkdir()
            page.screenshot(path=str(shots / "signllm-app.png"), full_page=True)

            # a wrong file type: a message in the page, not a traceback
            (tmp_path / "notes.txt").write_text("not a video")
            page.locator("#signllm-input button[aria-label=Clear]").click()
            upload(page, "signllm-input", tmp_path / "notes.txt")
            run_and_wait(page, expect_progress=False)
            error = page.locator('#signllm-status [data-kind="error"]')
            assert "Unsupported input file type 'notes.txt'" in error.inner_text()
        finally:
            browser.close()
    with capsys.disabled():
        print(f"\n[signllm app] upload → results {seconds:.1f} s; screenshot: {shots / 'signllm-app.png'}")
    if os.environ.get(SCREENSHOT_ENV):
        shutil.copy(shots / "signllm-app.png", os.environ[SCREENSHOT_ENV])

    # no second path: `signllm align` / `translate` on the page's own keypoints give the same files
    common = ["--model", str(model_dir), "--no-progress", "--device", "cpu"]
    assert main(["align", str(downloaded / pose_name), str(subtitles), "-o", str(tmp_path / "aligned.vtt"),
                 *common]) == 0  # fmt: skip
    assert (tmp_path / "aligned.vtt").read_bytes() == (downloaded / "aligned.vtt").read_bytes()
    assert main(["translate", str(downloaded / pose_name), "-o", str(tmp_path / "t.vtt"), "--segments",
                 str(tmp_path / "aligned.vtt"), "--json", str(tmp_path / "t.json"), *common]) == 0  # fmt: skip
    assert json.loads((tmp_path / "t.json").read_text())["segments"] == segments


def test_app_and_render_help(capsys):
    for command in ("app", "render"):
        with pytest.raises(SystemExit) as raised:
            main([command, "--help"])
        assert raised.value.code == 0
    printed = capsys.readouterr().out
    assert "--write-space" in printed and "--subtitles" in printed and "burned" in printed


def test_readme_screenshot_is_committed():
    assert (REPO_ROOT / "model_cards" / "signllm-app.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
