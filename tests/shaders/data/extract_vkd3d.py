"""Extract vkd3d's expected shader results from a local copy of its tests/d3d12.c.

Usage:
    python tests/shaders/data/extract_vkd3d.py PATH/TO/d3d12.c [--out vkd3d_instructions.json]

The tests do not run this script; they read the JSON it writes.

How: the test tables in d3d12.c are C initializers (unions, designated members, NAN,
-INFINITY, ~0u, INT_MIN, double arithmetic).  Rather than re-implementing C's constant
evaluation, the script copies each table's declaration verbatim into a small C program,
replaces the shader references with their names, compiles it with the system's C compiler
and lets the program print every row's bytes (constant-buffer input and expected output) as
hex.  Only data comes out: the JSON holds 32-bit patterns, names and flags.

Tables extracted:
  * test_shader_instructions: `tests[]` (R32G32B32A32_FLOAT target, compared within 2 ulps
    by vkd3d's compare_float) and `uint_tests[]` (R32G32B32A32_UINT, compared exactly).
  * a few simpler test functions whose single pixel shader draws a constant colour from a
    constant buffer or from nothing (listed in SIMPLE_SCENES below, with the expectation
    stated by hand after reading the test function; each names the lines it came from).
"""

from __future__ import annotations

import argparse
import functools
import json
import struct
import os
import re
import subprocess
import sys
import tempfile

REPOSITORY = "emtee40/wine-vkd3d"
SOURCE_PATH = "tests/d3d12.c"
COMMIT = "4c9821e5d53932d856d80237003c1b35ecef63ad"
LICENSE = "LGPL-2.1-or-later (vkd3d; the values below are facts taken from its test tables)"

C_PRELUDE = r"""
#define _GNU_SOURCE
#include <math.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <float.h>
#include <stdint.h>
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
struct vec4 { float x, y, z, w; };
struct uvec4 { unsigned int x, y, z, w; };
struct ivec4 { int x, y, z, w; };
struct dvec2 { double x, y; };
struct named_shader { const char *name; const char *var; };
static void hex(const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i;
    for (i = 0; i < n; ++i) printf("%02x", b[i]);
}
"""


def function_body(source: str, name: str) -> tuple[str, int]:
    """The text of `static void name(void) { ... }` and its first line number."""
    m = re.search(r"^static void %s\(void\)\n\{\n" % re.escape(name), source, re.M)
    if not m:
        raise SystemExit(f"function {name} not found")
    end = source.index("\n}\n", m.end())
    return source[m.start(): end + 3], source.count("\n", 0, m.start()) + 1


def table_declaration(body: str, table: str) -> str:
    """`static const struct {...} table[] = {...};` copied verbatim."""
    m = re.search(r"\n(\s*)%s\[\]\s*=\s*\n?\s*\{" % re.escape(table), body)
    if not m:
        raise SystemExit(f"table {table} not found")
    # the struct definition starts at the last "static const struct" before the table
    start = body.rindex("static const struct", 0, m.start())
    # matching brace of the initializer
    depth, i = 0, m.end() - 1
    while True:
        c = body[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                break
        i += 1
    semi = body.index(";", i)
    return body[start: semi + 1]


def struct_fields(decl: str) -> list[str]:
    """Top-level field names of the anonymous struct in a table declaration."""
    head = decl[decl.index("{") + 1:]
    depth, fields, cur = 0, [], ""
    for c in head:
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                break
            depth -= 1
        elif c == ";" and depth == 0:
            fields.append(cur)
            cur = ""
            continue
        if depth == 0 and c not in "{}":
            cur += c
    names = []
    for f in fields:
        f = f.strip()
        if not f:
            continue
        names.append(re.findall(r"(\w+)\s*(?:\[[^\]]*\]\s*)*$", f)[0])
    return names


def named_shaders(body: str) -> dict[str, tuple[str, str]]:
    out = {}
    for m in re.finditer(
        r"static\s+(?:const\s+)?struct\s+named_shader\s+(\w+)\s*=\s*\{\s*\"([^\"]*)\"\s*,\s*(\w+)\s*,",
        body,
    ):
        out[m.group(1)] = (m.group(2), m.group(3))
    return out


def run_c(program: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "t.c")
        exe = os.path.join(tmp, "t")
        with open(src, "w") as f:
            f.write(program)
        cc = os.environ.get("CC", "cc")
        subprocess.run([cc, "-std=gnu11", "-O0", "-w", src, "-o", exe, "-lm"], check=True)
        return subprocess.run([exe], check=True, capture_output=True, text=True).stdout


def extract_instruction_tables(source: str) -> tuple[list[dict], dict]:
    body, first_line = function_body(source, "test_shader_instructions")
    shaders = named_shaders(body)
    decls = {t: table_declaration(body, t) for t in ("tests", "uint_tests")}
    prog = [C_PRELUDE]
    for var, (name, code) in shaders.items():
        prog.append(f'static const struct named_shader {var} = {{"{name}", "{code}"}};')
    for decl in decls.values():
        prog.append(decl)
    prog.append("int main(void)\n{\n    size_t i;")
    for table, decl in decls.items():
        fields = struct_fields(decl)
        flags = [f for f in fields if f not in ("ps", "input", "output")]
        prog.append(f"    for (i = 0; i < sizeof({table}) / sizeof({table}[0]); ++i) {{")
        prog.append(f'        printf("%s\\t%zu\\t%s\\t%s\\t", "{table}", i, {table}[i].ps->name, {table}[i].ps->var);')
        prog.append(f"        hex(&{table}[i].input, sizeof({table}[i].input)); printf(\"\\t\");")
        prog.append(f"        hex(&{table}[i].output, sizeof({table}[i].output));")
        for fl in flags:
            prog.append(f'        printf("\\t{fl}=%d", (int){table}[i].{fl});')
        prog.append('        printf("\\n");\n    }')
    prog.append("    return 0;\n}\n")
    out = run_c("\n".join(prog))

    # line numbers of each row in the file (for people reading the JSON)
    row_lines: dict[str, list[int]] = {}
    for table, decl in decls.items():
        off = body.index(decl)
        init = decl[decl.index(f"{table}[]"):]
        base = first_line + body.count("\n", 0, off + decl.index(f"{table}[]"))
        # each row starts with "{&ps_" at depth 1
        lines = []
        for m in re.finditer(r"\{\s*&ps_", init):
            lines.append(base + init.count("\n", 0, m.start()))
        row_lines[table] = lines

    rows = []
    for line in out.splitlines():
        parts = line.split("\t")
        table, idx, name, var, inp, outp = parts[:6]
        flags = dict(p.split("=") for p in parts[6:])
        idx = int(idx)
        inp_b = bytes.fromhex(inp)
        out_b = bytes.fromhex(outp)
        words = lambda b: [int.from_bytes(b[k: k + 4], "little") for k in range(0, len(b), 4)]
        row = {
            "table": table,
            "index": idx,
            "line": row_lines[table][idx],
            "shader": name,
            "variable": var,
            "blob": blob_name(source, "test_shader_instructions", var),
            "cb0": [f"0x{w:08x}" for w in words(inp_b)],
            "format": "R32G32B32A32_FLOAT" if table == "tests" else "R32G32B32A32_UINT",
            "expected": [f"0x{w:08x}" for w in words(out_b)],
            "compare": "float_ulps" if table == "tests" else "exact",
            "ulps": 2 if table == "tests" else 0,
        }
        for k, v in flags.items():
            if int(v):
                row[k] = True
        rows.append(row)
    meta = {
        "function": "test_shader_instructions",
        "function_line": first_line,
        "render_target": "32x32 (vkd3d's default test context), full-viewport triangle, cleared to white, pixel (0,0) checked (every pixel)",
    }
    return rows, meta


@functools.lru_cache(maxsize=None)
def blob_name(source: str, function: str, variable: str) -> str:
    """The corpus file name of the `variable` array inside `function`: NAME__N, N counting the
    arrays of that name from the top of the file (how /work/shared/dxbc names them)."""
    body, _ = function_body(source, function)
    start = source.index(body)
    pattern = re.compile(r"\b(?:DWORD|uint32_t)\s+%s\[\]" % re.escape(variable))
    m = pattern.search(source, start)
    if not m or m.start() > start + len(body):
        raise SystemExit(f"{variable} not found in {function}")
    return f"{variable}__{len(pattern.findall(source, 0, m.start()))}"


def _fbits(*values: float) -> list[str]:
    return [f"0x{struct.unpack('<I', struct.pack('<f', v))[0]:08x}" for v in values]


def _u(*values: int) -> list[str]:
    return [f"0x{v & 0xFFFFFFFF:08x}" for v in values]


GREEN, BLUE = (0.0, 1.0, 0.0, 1.0), (0.0, 0.0, 1.0, 1.0)

# Simpler test functions: one pixel shader (no vertex inputs, no textures), cb0 (or nothing),
# one value expected on the whole target (vkd3d clears it to white first, as the runner does;
# the runner's full-screen triangle is front-facing).  Stated by hand after reading each
# function; `check` quotes the check, `cb0` is what the test uploads (root constants count as
# cb0).  RGBA8 expectations are the texel as vkd3d's check_sub_resource_uint reads it
# (0xAABBGGRR), compared per byte within max_diff.
SIMPLE_SCENES: list[dict] = [
    *[{"function": "test_immediate_constant_buffer", "variable": "ps_code", "cb0": _u(i, 0, 0, 0),
       "format": "R32G32B32A32_FLOAT", "expected": _fbits(*e), "compare": "float_ulps", "ulps": 0,
       "check": "check_sub_resource_vec4(..., &expected_result[i], 0)"}
      for i, e in enumerate([(310.0, 2.0, 76.0, 1.0), (111.0, 7.0, 83.5, 1.0), (212.0, 2139095040.0, 0.5, 1.0),
                             (-513.0, 4286578688.0, 0.75, 1.0), (-318.0, 2143289344.0, -0.5, 1.0),
                             (0.0, 0.0, 0.0, 1.0)])],
    *[{"function": "test_discard_instruction", "variable": "ps_discard_nz_code", "cb0": _u(v, 0, 0, 0),
       "format": "R8G8B8A8_UNORM", "expected": _u(0xFFFFFFFF if v else 0xFF007F00), "compare": "color",
       "max_diff": 1, "check": "check_sub_resource_uint(..., values[i].x ? 0xffffffff : 0xff007f00, 1)"}
      for v in (0x0000000, 0x0000001, 0x8000000, 0xFFFFFFF)],
    *[{"function": "test_discard_instruction", "variable": "ps_discard_z_code", "cb0": _u(v, 0, 0, 0),
       "format": "R8G8B8A8_UNORM", "expected": _u(0xFF00FF00 if v else 0xFFFFFFFF), "compare": "color",
       "max_diff": 1, "check": "check_sub_resource_uint(..., values[i].x ? 0xff00ff00 : 0xffffffff, 1)"}
      for v in (0x0000000, 0x0000001, 0x8000000, 0xFFFFFFF)],
    {"function": "test_root_constants", "variable": "ps_uint_constant_code", "cb0": _u(0, 1, 0, 2),
     "format": "R32G32B32A32_FLOAT", "expected": _fbits(0.0, 1.0, 0.0, 2.0), "compare": "float_ulps", "ulps": 0,
     "check": "expected_result = constants (0, 1, 0, 2) as floats; check_sub_resource_vec4(..., 0)"},
    {"function": "test_command_list_initial_pipeline_state", "variable": "ps_code", "cb0": [],
     "format": "R8G8B8A8_UNORM", "expected": _u(0xFF804000), "compare": "color", "max_diff": 1,
     "check": "check_sub_resource_uint(..., 0xff804000, 1)"},
    {"function": "test_face_culling", "variable": "ps_color_code", "cb0": _fbits(*GREEN),
     "format": "R8G8B8A8_UNORM", "expected": _u(0xFF00FF00), "compare": "color", "max_diff": 0,
     "check": "root constants = green; check_sub_resource_uint(..., 0xff00ff00, 0)"},
    {"function": "test_face_culling", "variable": "ps_front_code", "cb0": [],
     "format": "R8G8B8A8_UNORM", "expected": _u(0xFF00FF00), "compare": "color", "max_diff": 0,
     "check": "front-facing triangle: check_sub_resource_uint(..., 0xff00ff00, 0) (back-facing: 0xffff0000)"},
    *[{"function": "test_queue_wait", "variable": "ps_code", "cb0": _fbits(*c),
       "format": "R8G8B8A8_UNORM", "expected": _u(e), "compare": "color", "max_diff": 0,
       "check": f"cb = {name}; check_readback_data_uint(..., 0x{e:08x}, 0)"}
      for name, c, e in (("green", GREEN, 0xFF00FF00), ("blue", BLUE, 0xFFFF0000))],
    {"function": "test_depth_read_only_view", "variable": "ps_code", "cb0": _fbits(*GREEN),
     "format": "R8G8B8A8_UNORM", "expected": _u(0xFF00FF00), "compare": "color", "max_diff": 0,
     "check": "root constants = green; check_sub_resource_uint(..., 0xff00ff00, 0) (the depth part is not used)"},
]


def scene_rows(source: str) -> list[dict]:
    rows = []
    for i, sc in enumerate(SIMPLE_SCENES):
        body, first_line = function_body(source, sc["function"])
        blob = blob_name(source, sc["function"], sc["variable"])
        rows.append({"table": "scenes", "index": i, "line": first_line, "function": sc["function"],
                     "shader": f"{sc['function'][5:]}.{sc['variable'].replace('_code', '')}", "variable": sc["variable"], "blob": blob,
                     **{k: v for k, v in sc.items() if k not in ("function", "variable")}})
    return rows


def dump_table(source: str, function: str, table: str, extra: tuple[str, ...] = ()) -> list[dict]:
    """Every row of `table` in `function` as {field: bytes} (shader fields: the code array's
    name), by compiling the declaration verbatim; `extra` names other arrays of the function
    the declaration needs (copied too)."""
    body, _ = function_body(source, function)
    decl = table_declaration(body, table)
    prog = [C_PRELUDE, "typedef struct named_shader D3D12_SHADER_BYTECODE;",
            "#define ARRAY_SIZE(x) (sizeof(x) / sizeof(*(x)))"]
    for m in re.finditer(r"D3D12_SHADER_BYTECODE\s+(\w+)\s*=\s*\{\s*(\w+)\s*,", body):
        prog.append(f'static const struct named_shader {m.group(1)} = {{"{m.group(1)}", "{m.group(2)}"}};')
    for name in extra:
        m = re.search(r"static const [^;=]*\b%s\[\]\s*=\s*\{[^;]*\};" % re.escape(name), body)
        prog.append(m.group(0))
    prog.append(decl)
    fields = struct_fields(decl)
    ptr = {f for f in fields if re.search(r"\*\s*%s\s*;" % f, decl)}
    prog.append("int main(void)\n{\n    size_t i;")
    prog.append(f"    for (i = 0; i < ARRAY_SIZE({table}); ++i) {{")
    for f in fields:
        if f in ptr:
            prog.append(f'        printf("{f}=%s\\t", {table}[i].{f}->var);')
        else:
            prog.append(f'        printf("{f}="); hex(&{table}[i].{f}, sizeof({table}[i].{f})); printf("\\t");')
    prog.append('        printf("\\n");\n    }\n    return 0;\n}')
    rows = []
    for line in run_c("\n".join(prog)).splitlines():
        row = {}
        for part in line.rstrip("\t").split("\t"):
            k, v = part.split("=", 1)
            row[k] = v if k in ptr else bytes.fromhex(v)
        rows.append(row)
    return rows


def _words(b: bytes) -> list[str]:
    return [f"0x{int.from_bytes(b[k:k + 4], 'little'):08x}" for k in range(0, len(b), 4)]


def compute_rows(source: str) -> list[dict]:
    """Compute shaders with a raw-buffer UAV (or two) and cb0: each row's UAV contents before
    and after one Dispatch(1, 1, 1)."""
    rows = []
    fn = "test_compute_shader_instructions"
    _, line = function_body(source, fn)
    for i, r in enumerate(dump_table(source, fn, "tests")):
        blob = blob_name(source, fn, r["cs"])
        rows.append({"table": "compute", "index": i, "line": line, "function": fn,
                     "shader": r["cs"].replace("_code", ""), "variable": r["cs"], "blob": blob,
                     "cb0": _words(r["u"] + r["s"]), "groups": [1, 1, 1],
                     "uavs": [{"slot": 0, "raw_bytes": 512, "initial": _words(r["input_data"]),
                               "expected": _words(r["expected_data"])}],
                     "check": "get_readback_uint(buffer, j) == expected_data[j] for the 10 words"})
    fn = "test_atomic_instructions"
    _, line = function_body(source, fn)
    for i, r in enumerate(dump_table(source, fn, "tests", extra=("instructions",))):
        blob = blob_name(source, fn, "cs_atomics_code")
        rows.append({"table": "compute", "index": i, "line": line, "function": fn,
                     "shader": "cs_atomics", "variable": "cs_atomics_code", "blob": blob,
                     "cb0": _words(r["v"] + r["i"]), "groups": [1, 1, 1],
                     "uavs": [{"slot": 0, "raw_bytes": len(r["input"]), "initial": _words(r["input"]),
                               "expected": _words(r["expected_result"])},
                              {"slot": 1, "raw_bytes": len(r["input"]), "initial": _words(bytes(len(r["input"]))),
                               "expected": _words(r["input"])}],
                     "check": "cs_buffer == expected_result (imm_atomic_* results), cs_buffer2 == input "
                              "(the original values the imm_ forms return)",
                     **({"is_mesa_bug": True} if int.from_bytes(r["i"][:4], "little", signed=True) < 0 else {})})
    for k, r in enumerate(rows):
        r["id"] = f"{r['shader']}-{sum(1 for q in rows[:k] if q['shader'] == r['shader'])}"
    return rows


def texture_rows(source: str) -> list[dict]:
    """test_texture_ld: ps_ld reads t0 (a 4x4 R8G8B8A8_UNORM texture) with Load and immediate
    offsets chosen by cb0; one RGBA8 colour expected on the target per row."""
    fn = "test_texture_ld"
    body, line = function_body(source, fn)
    m = re.search(r"texture_data\[\]\s*=\s*\{([^}]*)\}", body)
    texels = [f"0x{int(v, 16):08x}" for v in re.findall(r"0x[0-9a-fA-F]+", m.group(1))]
    rows = []
    for i, r in enumerate(dump_table(source, fn, "tests")):
        rows.append({"table": "texture", "index": i, "line": line, "function": fn, "shader": "texture_ld.ps_ld",
                     "variable": "ps_ld_code", "blob": blob_name(source, fn, "ps_ld_code"),
                     "id": f"texture_ld.ps_ld-{i}", "cb0": _words(r["constants"]),
                     "textures": [{"slot": 0, "format": "R8G8B8A8_UNORM", "width": 4, "height": 4, "texels": texels}],
                     "format": "R8G8B8A8_UNORM", "expected": _words(r["expected_color"]), "compare": "color",
                     "max_diff": 0, "check": "check_sub_resource_uint(..., tests[i].expected_color, 0)"})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("d3d12_c")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "vkd3d_instructions.json"))
    args = ap.parse_args(argv)
    with open(args.d3d12_c, encoding="utf-8", errors="replace") as f:
        source = f.read()
    rows, meta = extract_instruction_tables(source)
    rows += scene_rows(source)
    for i, r in enumerate(rows):
        r["id"] = f"{r['shader']}-{sum(1 for q in rows[:i] if q['shader'] == r['shader'])}"
    doc = {
        "source": {
            "repository": REPOSITORY,
            "file": SOURCE_PATH,
            "commit": COMMIT,
            "license": LICENSE,
            "extracted_by": "tests/shaders/data/extract_vkd3d.py: the C tables compiled verbatim by cc, rows printed as bytes",
        },
        "notes": [
            "cb0/expected are little-endian 32-bit words; cb0 is the 48-byte buffer (src0, src1, src2) bound at b0.",
            "compare=float_ulps: vkd3d's compare_float (sign-magnitude to two's-complement ordering, |a-b| <= ulps, no NaN special case).",
            "compare=exact: every bit of all four channels.",
            "compare=color: an RGBA8 texel as a 32-bit word (0xAABBGGRR), each byte within max_diff (vkd3d's compare_color).",
            "table=scenes: rows stated by hand from simpler test functions (see SIMPLE_SCENES in the script; `check` quotes vkd3d's check).",
            "blob: the corpus file /work/shared/dxbc/vkd3d-d3d12/<blob>.dxbc.",
            "texture: PS rows that also bind shader resources (slot, format, size, texels as 0xAABBGGRR words).",
            "compute: cs rows; cb0 at slot 0, raw-buffer UAVs (slot, size, initial words, expected words after Dispatch(groups)); is_mesa_bug: vkd3d's bug_if for negative imax/imin inputs on old radv.",
            "flags: is_mesa_bug (vkd3d marks bug_if on Mesa), skip_on_warp, is_float64 (needs shader doubles), is_todo (vkd3d todo), todo_on_nvidia.",
        ],
        "instructions": meta,
        "rows": rows,
        "compute": compute_rows(source),
        "texture": texture_rows(source),
    }
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"{len(rows)} rows, {len({r['shader'] for r in rows})} shaders -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
