"""The browser replay's speed: 50 epochs of the lecture's Playground link, as ``nnkit playground``
runs it (pure Python, V8's math or the platform's), and the batched replay on numpy.

    pytest benchmarks/bench_playground.py --benchmark-only
"""

from __future__ import annotations

import pytest

from nnkit.playground import run_playground

LECTURE_LINK = (
    "https://playground.tensorflow.org/#activation=sigmoid&batchSize=8&dataset=spiral&regDataSet=reg-plane"
    "&learningRate=0.003&regularizationRate=0&noise=20&networkShape=1,2&seed=0.99530&showTestData=false"
    "&discretize=false&percTrainData=70&x=true&y=true&xTimesY=true&xSquared=false&ySquared=false&cosX=false"
    "&sinX=false&cosY=false&sinY=false&collectStats=false&problem=classification&initZero=f")
XOR_LINK = ("https://playground.tensorflow.org/#activation=tanh&batchSize=10&dataset=xor&learningRate=0.03"
            "&noise=0&networkShape=4,2&seed=0.12345&percTrainData=70&x=true&y=true&xTimesY=true")


@pytest.mark.parametrize("link", [LECTURE_LINK, XOR_LINK], ids=["lecture", "xor_4_2"])
@pytest.mark.parametrize("how", ["v8", "platform", "batched"])
def test_playground_50_epochs(benchmark, link, how):
    benchmark.group = "playground 50 epochs"
    kwargs = {"batched": True} if how == "batched" else {"math": how}
    result = benchmark.pedantic(run_playground, args=(link,), kwargs=dict(epochs=50, verbose=0, **kwargs),
                                rounds=3, iterations=1, warmup_rounds=1)
    assert result.epochs == 50
