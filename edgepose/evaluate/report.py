"""Metrics as a printable table: one column per run (the model's, the oracle's ceiling beside it)."""


_SIZE_NAMES = {"AP_M": "32^2..96^2 px", "AP_L": "over 96^2 px"}


def _value(v, fmt="%.3f"):
    if v is None:
        return "-"
    if fmt == "%.3f" and v < 0:  # COCO's -1: nothing of that size to score (explained under the row)
        return "-"
    return fmt % v


def format_table(metrics, oracle=None):
    """The metrics (``evaluate``'s dict) as a table; with ``oracle``, its figures in a second column.

    Either may be None (e.g. only the oracle was run); a column is headed "value" when it is alone.
    """
    cols = [(name, m) for name, m in (("model", metrics), ("oracle", oracle)) if m is not None]
    if len(cols) == 1 and cols[0][0] == "model":
        cols = [("value", metrics)]
    first = cols[0][1]
    width = 28

    def row(label, values):
        return ("%-*s" % (width, label)) + "".join(" %7s" % v for v in values)

    lines = [row("metric", [name for name, _ in cols])]
    for k in ("AP", "AP50", "AP75", "AP_M", "AP_L", "AR", "AR50", "AR75"):
        if k in first:
            lines.append(row(k, [_value(m.get(k)) for _, m in cols]))
            if any((m.get(k) or 0) < 0 for _, m in cols):
                lines.append("  * COCO's -1: no ground-truth person with area %s to score" % _SIZE_NAMES.get(k, "of that size"))
    for key, label in (("images", "images"), ("people", "people (GT)"), ("detections", "detections")):
        lines.append(row(label, [_value(m.get(key, 0), "%d") for _, m in cols]))
    for key, title in (("recall_by_height", "person recall (OKS >= 0.5) by height in image pixels:"),
                       ("recall_by_posture", "person recall (OKS >= 0.5) by posture:")):
        groups = first.get(key)
        if not groups:
            continue
        lines.append(title)
        for name, g in groups.items():
            label = "  %s (%d people)" % (name, g["people"])
            lines.append(row(label, [_value(m.get(key, {}).get(name, {}).get("recall")) for _, m in cols]))
    lines.append("per-keypoint recall (OKS >= 0.5):")
    for name in first.get("per_keypoint_recall", {}):
        lines.append(row("  " + name, [_value(m.get("per_keypoint_recall", {}).get(name)) for _, m in cols]))
    return "\n".join(lines)
