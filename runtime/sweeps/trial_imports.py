"""What a sweep trial (`layerloom train`) imports before its first step, imported once by the interpreter that
forks the trials (forked.py) so that no trial imports it again: PyTorch, TorchDynamo (an optimizer's first
step imports it), the data sets, the preflight check with analysis, the trainer and the command line.
Nothing else imports this module: importing it costs seconds."""
from layerloom.graph.lazy_torch import import_dynamo
from layerloom.runtime import cli, data_choice, health, preflight, train_cli, trainer  # noqa: F401

import_dynamo()
