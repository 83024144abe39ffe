"""nnkit.jsmath (V8's fdlibm exp/log/expm1/tanh/sin/cos) and nnkit.seedrandom against node.

tests/data/playground_v8_math.json holds Math.<fn>(x) as node 20 (V8 11.3) computed it for 400
arguments per function (the Playground's ranges, magnitudes from 2^-60 to 2^10, multiples of
pi/2, subnormals, thresholds, infinities, NaN), and 60 more for sin and cos beyond 2^19 pi/2;
where node is installed, fresh random arguments are checked live as well.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from nnkit import jsmath
from nnkit.seedrandom import SeedRandom, mix_key

FIXTURE = Path(__file__).parent / "data" / "playground_v8_math.json"
FUNCTIONS = ("exp", "log", "sin", "cos", "tanh", "expm1")
NODE = shutil.which("node")


def _double(hex_bits: str) -> float:
    return struct.unpack(">d", bytes.fromhex(hex_bits))[0]


def _hex(x: float) -> str:
    return struct.pack(">d", x).hex()


def _same(got: float, want_hex: str) -> bool:
    want = _double(want_hex)
    return _hex(got) == want_hex or (got != got and want != want)


@pytest.fixture(scope="module")
def node_values():
    with open(FIXTURE) as fh:
        return json.load(fh)["values"]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_bit_for_bit_against_node(node_values, name):
    fn = getattr(jsmath, name)
    pairs = node_values[name]
    assert len(pairs) == (460 if name in ("sin", "cos") else 400)
    wrong = [(x, _hex(fn(_double(x))), want) for x, want in pairs if not _same(fn(_double(x)), want)]
    assert wrong == []


def test_the_platform_libm_is_not_v8(node_values):
    # the reason for the port: libm's last bit differs from V8's for some of these arguments
    differs = 0
    for name in ("exp", "log", "sin", "cos", "tanh"):
        for x, want in node_values[name]:
            try:
                got = getattr(math, name)(_double(x))
            except (ValueError, OverflowError):
                continue
            differs += not _same(got, want)
    assert differs > 10


def test_special_values():
    inf, nan = math.inf, math.nan
    assert jsmath.exp(inf) == inf and jsmath.exp(-inf) == 0.0 and math.isnan(jsmath.exp(nan))
    assert jsmath.exp(1.0) == math.e and jsmath.exp(710.0) == inf and jsmath.exp(-746.0) == 0.0
    assert jsmath.log(0.0) == -inf and jsmath.log(-0.0) == -inf and math.isnan(jsmath.log(-1.0))
    assert jsmath.log(inf) == inf and jsmath.log(1.0) == 0.0
    assert jsmath.tanh(inf) == 1.0 and jsmath.tanh(-inf) == -1.0 and jsmath.tanh(30.0) == 1.0
    assert math.copysign(1.0, jsmath.tanh(-0.0)) == -1.0
    assert math.isnan(jsmath.sin(inf)) and math.isnan(jsmath.cos(-inf)) and math.isnan(jsmath.sin(nan))
    assert jsmath.expm1(-inf) == -1.0 and jsmath.expm1(-50.0) == -1.0
    # the largest double, reduced by the Payne-Hanek path: within an ulp of the platform's value
    big = 1.7976931348623157e308
    assert abs(jsmath.sin(big) - math.sin(big)) <= math.ulp(1.0)


@pytest.mark.skipif(NODE is None, reason="node is not installed: the committed node values are checked above")
def test_fresh_arguments_live_against_node():
    rng = random.Random()
    args = []
    for name in FUNCTIONS:
        for _ in range(500):
            x = (rng.uniform(-12, 12) if rng.random() < 0.7
                 else math.copysign(2.0 ** rng.uniform(-40, 40), rng.random() - 0.5))
            args.append((name, abs(x) if name == "log" else x))
    script = ("const b=new DataView(new ArrayBuffer(8));const out=[];"
              "for(const l of require('fs').readFileSync(0,'utf8').trim().split('\\n')){"
              "const [f,h]=l.split(' ');b.setBigUint64(0,BigInt('0x'+h));b.setFloat64(0,Math[f](b.getFloat64(0)));"
              "out.push(b.getBigUint64(0).toString(16).padStart(16,'0'))}console.log(out.join('\\n'))")
    stdin = "\n".join(f"{name} {_hex(x)}" for name, x in args)
    results = subprocess.run([NODE, "-e", script], input=stdin, capture_output=True, text=True, check=True,
                             timeout=60).stdout.split()
    assert len(results) == len(args)
    wrong = [(name, x) for (name, x), want in zip(args, results) if not _same(getattr(jsmath, name)(x), want)]
    assert wrong == []


# ---------------------------------------------------------------------------------------------
# seedrandom


def test_mix_key_is_seedrandoms():
    # key[j & 255] = 255 & ((smear ^= key[j & 255] * 19) + code), unset slots and smear 0
    assert mix_key("") == []
    assert mix_key("0.") == [48, 46]
    # past 256 code units the key wraps: slot 0 smears its old 120 in, 120 * 19 = 2280,
    # (2280 + 120) & 255 = 96
    assert mix_key("x" * 257) == [96] + [120] * 255
    # UTF-16 code units: a character outside the BMP is two (0xD83D, 0xDE00)
    assert mix_key("\U0001F600") == [0xD83D & 255, 0xDE00 & 255]


def test_seedrandom_draws_are_doubles_in_unit_interval_with_53_bits():
    stream = SeedRandom("nnkit")
    values = [stream.random() for _ in range(2000)]
    assert all(0.0 <= v < 1.0 for v in values)
    assert stream.draws == 2000
    # every value is k / 2^m with full 53-bit significands on average (not a 32-bit generator)
    assert any(v * 2 ** 32 != int(v * 2 ** 32) for v in values)
    assert SeedRandom("nnkit").random() == values[0] and SeedRandom("nnkit!").random() != values[0]
    # the empty seed is the key [0], as seedrandom treats []
    assert SeedRandom("").random() == SeedRandom("\x00").random()


def test_seedrandom_rejects_a_non_string_seed():
    with pytest.raises(TypeError, match="seed"):
        SeedRandom(0.5)
