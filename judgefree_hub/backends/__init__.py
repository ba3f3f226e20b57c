"""Model backends and the batched mixed decoding loop."""

from .decoding import AnswerPlan, Branch, StepModel, decode_answers
from .mixing import mix_scores, next_tokens

__all__ = ["AnswerPlan", "Branch", "StepModel", "decode_answers", "mix_scores", "next_tokens"]
