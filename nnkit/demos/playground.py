"""The lecture's TensorFlow Playground link, run by nnkit, beside a network that can fit the spiral."""

from __future__ import annotations

DESCRIPTION = "the lecture's TensorFlow Playground link (spiral) and a bigger network that fits it"

LECTURE_URL = ("https://playground.tensorflow.org/#activation=sigmoid&batchSize=8&dataset=spiral"
               "&regDataSet=reg-plane&learningRate=0.003&regularizationRate=0&noise=20&networkShape=1,2"
               "&seed=0.99530&showTestData=false&discretize=false&percTrainData=70&x=true&y=true"
               "&xTimesY=true&xSquared=false&ySquared=false&cosX=false&sinX=false&cosY=false&sinY=false"
               "&collectStats=false&problem=classification&initZero=f")
# the same data set and seed; more units, tanh, a larger rate and every feature the Playground offers
BIGGER_URL = ("https://playground.tensorflow.org/#activation=tanh&batchSize=8&dataset=spiral"
              "&learningRate=0.03&regularizationRate=0&noise=20&networkShape=8,8,8&seed=0.99530"
              "&percTrainData=70&x=true&y=true&xTimesY=true&xSquared=true&ySquared=true&cosX=false"
              "&sinX=true&cosY=false&sinY=true&problem=classification&initZero=false")


def demo(quick=False, plot_dir=None, backend="numpy", seed=0) -> dict:
    from nnkit.playground import plot_playground, run_playground

    epochs = 20 if quick else 300
    result = {"runs": {}, "figures": []}
    print("The lecture links a Playground experiment: spiral, noise 20, sigmoid, hidden layers 1,2, lr 0.003,")
    print(f"batch 8, features x, y, xy. nnkit runs it the Playground's way ({epochs} epochs), then a bigger one.")
    print("The link ends with initZero=f, which the browser reads as true: every weight starts at 0.\n")
    for label, url in (("lecture", LECTURE_URL), ("bigger", BIGGER_URL)):
        run = run_playground(url, epochs=epochs, backend=backend, verbose=0)
        entry = {"train_loss": run.train_loss, "test_loss": run.test_loss}
        for key in ("train_accuracy", "test_accuracy"):
            if key in run.history:
                entry[key] = run.history[key][-1]
        result["runs"][label] = entry
        shape = ",".join(map(str, run.config.network_shape))
        acc = f", test accuracy {entry['test_accuracy']:.3f}" if "test_accuracy" in entry else ""
        print(f"{label:>8} (hidden {shape}): train loss {run.train_loss:.4f}, test loss {run.test_loss:.4f}{acc}")
        if plot_dir is not None:
            from nnkit.demos import figure

            path = figure(plot_dir, f"playground_{label}.png")
            plot_playground(run, path)
            result["figures"].append(path)
    print("\nTwo hidden units cannot draw a spiral; depth, width and the right features can.")
    return result
