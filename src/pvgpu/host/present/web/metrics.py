"""/metrics: the sessions' figures in Prometheus' text exposition format (0.0.4)."""

from __future__ import annotations

import re

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: (metric, type, help, figure key) per session
_SESSION = [
    ("pvgpu_frames_total", "counter", "Frames the guest presented.", "frames"),
    ("pvgpu_commands_total", "counter", "Commands the host executed.", "commands"),
    ("pvgpu_errors_total", "counter", "Commands the host refused or failed.", "errors"),
    ("pvgpu_commands_replayed_total", "counter", "Commands re-issued from captured runs.", "commands_replayed"),
    ("pvgpu_worker_restarts_total", "counter", "Times the session's worker process was restarted.",
     "worker_restarts"),
    ("pvgpu_frame_rate_hz", "gauge", "Frames presented per second (last 2 s).", "fps"),
    ("pvgpu_commands_per_second", "gauge", "Commands executed per second (last 2 s).", "commands_per_s"),
    ("pvgpu_frame_time_seconds", "gauge", "The host's own processing time per frame (median, last 60).",
     "frame_time_ms"),
    ("pvgpu_memory_rss_bytes", "gauge", "Resident memory of the process running the session's renderer.",
     "memory_bytes"),
]
_WEB = [
    ("pvgpu_web_viewers", "gauge", "Browser viewers connected to the session.", "viewers"),
    ("pvgpu_web_frames_sent_total", "counter", "Frame messages sent to viewers (all viewers).", "sent"),
    ("pvgpu_web_frames_skipped_total", "counter", "Frames not encoded because no viewer was connected.",
     "skipped_no_viewer"),
    ("pvgpu_web_viewer_drops_total", "counter", "Frames a slow viewer did not get (newer ones replaced them).",
     "viewer_drops"),
    ("pvgpu_web_encoded_bytes_total", "counter", "Bytes of encoded frames.", "encoded_bytes"),
    ("pvgpu_web_input_events_total", "counter", "Input messages passed to the guest.", "input_events"),
    ("pvgpu_web_input_ignored_total", "counter", "Input messages for a session that takes no input.",
     "input_ignored"),
    ("pvgpu_web_input_refused_total", "counter", "Viewer messages refused as malformed.", "input_refused"),
    ("pvgpu_web_input_dropped_total", "counter", "Viewer messages over the rate limit.", "input_dropped"),
]


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _number(v) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    return repr(float(v))


def _metric_name(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", text)


def render(sessions: list[dict]) -> str:
    """The exposition text of the figures of every session (session_figures() dicts)."""
    lines = ["# HELP pvgpu_sessions Sessions being served.", "# TYPE pvgpu_sessions gauge",
             f"pvgpu_sessions {len(sessions)}"]

    def family(name: str, kind: str, help_: str, samples: list[tuple[str, object]]) -> None:
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{labels} {_number(v)}" for labels, v in samples)

    for name, kind, help_, key in _SESSION:
        samples = []
        for s in sessions:
            v = s.get(key)
            if v is None:
                continue
            if key == "frame_time_ms":
                v = v / 1e3
            samples.append((_labels(session=s["id"], name=s["name"]), v))
        family(name, kind, help_, samples)
    family("pvgpu_session_status", "gauge", "The session's device status (1 for its current status).",
           [(_labels(session=s["id"], name=s["name"], status=s["status"]), 1) for s in sessions])
    for metric, key, help_ in (("pvgpu_presenter_frames_total", "received", "Frames handed to a presenter."),
                               ("pvgpu_presenter_frames_shown_total", "shown", "Frames a presenter finished."),
                               ("pvgpu_presenter_drops_total", "dropped",
                                "Frames a presenter dropped because it was busy.")):
        samples = [(_labels(session=s["id"], name=s["name"], presenter=p), c[key])
                   for s in sessions for p, c in s["presenters"].items()]
        if key == "dropped":
            samples += [(_labels(session=s["id"], name=s["name"], presenter=p), int(f.get("frames_not_shown", 0)))
                        for s in sessions for p, f in s["gpu_presenters"].items()]
        family(metric, "counter", help_, samples)
    family("pvgpu_presenter_cpu_seconds_per_frame", "gauge", "CPU time a presenter's thread spent per frame.",
           [(_labels(session=s["id"], name=s["name"], presenter=p), c["cpu_ms_per_frame"] / 1e3)
            for s in sessions for p, c in s["presenters"].items()])
    gpu_keys = sorted({k for s in sessions for f in s["gpu_presenters"].values() for k in f})
    for k in gpu_keys:
        family(f"pvgpu_gpu_presenter_{_metric_name(k)}", "gauge", f"GPU-side presenter figure {k}.",
               [(_labels(session=s["id"], name=s["name"], presenter=p), f[k])
                for s in sessions for p, f in s["gpu_presenters"].items() if k in f])
    for name, kind, help_, key in _WEB:
        family(name, kind, help_, [(_labels(session=s["id"], name=s["name"]), s["web"].get(key, 0))
                                   for s in sessions])
    return "\n".join(lines) + "\n"
