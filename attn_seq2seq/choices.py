"""The check every module runs on a value that must be one of a fixed set of names.

    check_choice("scorer", "cosin", SCORERS)
    # ConfigError: unknown scorer 'cosin'; valid choices: dot, scaled_dot, general, ...

The message is the one line the entry points print (see cli.py).
"""

from collections.abc import Iterable

from attn_seq2seq.errors import ConfigError


def check_choice(kind: str, value: object, choices: Iterable) -> None:
  """Raises a one-line ConfigError (a ValueError) naming `value` and every valid choice, unless
  `value` is one."""
  choices = tuple(choices)
  if value not in choices:
    raise ConfigError(unknown_choice(kind, value, choices))


def unknown_choice(kind: str, value: object, choices: Iterable) -> str:
  """The message of `check_choice`, for a caller that already knows `value` is not valid."""
  return f"unknown {kind} {value!r}; valid choices: {', '.join(map(str, choices))}"
