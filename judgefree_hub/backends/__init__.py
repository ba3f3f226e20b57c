"""Model-family backends (registry BACKENDS) and the batched mixed decoding loop.

`load_backend(spec)` is the one way in: it picks the backend (recipe `model.backend`, or from
the checkpoint's `model_type` under auto) and loads the model. A new VLM family is one module
here with its `<name>.schema.json` options fragment; nothing outside this folder names a
backend class.
"""

# Each import registers one family's backend.
from . import llava  # noqa: F401
from . import qwen2_vl  # noqa: F401
from . import llava_next  # noqa: F401
from . import idefics3  # noqa: F401
from .base import BACKENDS, AnswerPlan, Backend, Branch, StepModel
from .check import BackendMismatch, self_check
from .decoding import decode_answers
from .mixing import mix_scores, next_tokens
from .select import backend_class, load_backend, read_model_type

__all__ = ["BACKENDS", "AnswerPlan", "Backend", "BackendMismatch", "Branch", "StepModel", "backend_class", "decode_answers", "self_check",
           "load_backend", "mix_scores", "next_tokens", "read_model_type"]
