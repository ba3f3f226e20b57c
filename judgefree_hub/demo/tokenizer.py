"""A small byte-level BPE tokenizer for the demo LLaVA, trained here from a built-in corpus.

No real tokenizer can be downloaded offline, and a byte-level BPE can encode any text (so the
demo never meets an unknown character) while staying small enough to keep the model tiny.
Training is single-threaded over a fixed corpus, so two builds give the same tokenizer.json.
"""

from __future__ import annotations

import os

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

BOS, EOS, PAD, UNK, IMAGE = "<s>", "</s>", "<pad>", "<unk>", "<image>"
SPECIAL_TOKENS = (BOS, EOS, PAD, UNK, IMAGE)  # ids 0..4, in this order
VOCAB_SIZE = 1536

# Llava-1.5 layout ("USER: <image>\n... ASSISTANT:"); content may be a string or a list of parts
# so that both TRL's conversational rows and plain chats render.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}"
    "{% if message['content'] is string %}{{ message['content'] + ' ' }}"
    "{% else %}{% for part in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ part['text'] + ' ' }}{% endfor %}{% endif %}"
    "{% else %}"
    "{{ message['role'].upper() + ': ' }}"
    "{% if message['content'] is string %}{{ message['content'] + ' ' }}"
    "{% else %}"
    "{% for part in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}"
    "{% for part in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ part['text'] + ' ' }}{% endfor %}"
    "{% endif %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

_CORPUS = """
USER: Describe the image. ASSISTANT: The image shows a woman in a white space suit holding a
helmet, standing in front of an American flag. She is smiling at the camera.
USER: What is in the picture? ASSISTANT: A small orange and brown tabby cat with green eyes sits
on a wooden floor and looks to the left. Its whiskers are long and white.
USER: Describe this photo in detail. ASSISTANT: A cup of coffee sits on a white saucer on a red
table. The foam on top forms a leaf pattern, and a silver spoon rests beside the cup.
USER: What do you see? ASSISTANT: A tall rocket stands on the launch pad under a clear blue sky.
Steam and smoke rise from the base while towers and cables surround it.
USER: Give a short caption. ASSISTANT: A red motorcycle is parked inside a garage next to a
bicycle, a ladder, boxes and tools hanging on the wall.
USER: Describe the image. ASSISTANT: Thousands of distant galaxies glow against the dark night
sky. Some are spiral, some are round, and a few bright stars shine in front of them.
USER: What does this show? ASSISTANT: A close view of the back of an eye, with red blood vessels
branching out from a bright yellow disc in the center of a dark orange circle.
USER: Describe the photograph. ASSISTANT: A black and white photo of a man in a dark coat standing
on a grassy field, looking through an old camera on a tripod. Buildings are far behind him.
There are two dogs playing on the green grass near a river. A boy throws a ball while his
mother watches from a bench under a large tree. The water is calm and reflects the trees.
A busy city street at night, with yellow taxis, tall buildings, bright signs and people walking
on the wet sidewalk. Rain falls and the lights shine on the road.
A bowl of fresh fruit on a kitchen table: red apples, yellow bananas, purple grapes and an
orange. Sunlight comes through the window and makes soft shadows.
A snowy mountain rises above a quiet lake. Pine trees line the shore and a small wooden boat
floats near the dock. The sky is pale blue with thin white clouds.
A plate of food with rice, grilled chicken, green beans and a slice of lemon. A fork and a knife
lie on a folded napkin beside the plate.
An old brick house with a red door and two windows. Flowers grow in pots on the steps and a
bicycle leans against the fence. The street is empty.
A child in a yellow raincoat jumps into a puddle. Her boots are blue and she is laughing. Behind
her, cars are parked along the road.
A horse runs across a field of tall brown grass at sunset. Its mane flies in the wind and the
sky turns pink and gold above the hills.
A laptop, a notebook and a pencil on a wooden desk. The screen shows a chart with lines and
numbers. A plant in a white pot stands in the corner.
Three birds sit on a power line against a gray sky. One bird spreads its wings as if it is about
to fly away.
A group of people sit around a table in a restaurant, eating pizza and drinking water. One man
raises his glass and everyone smiles.
A train crosses a long bridge over a deep valley. The forest below is dark green and a road
winds along the river.
A close up of a sunflower with bright yellow petals and a brown center full of seeds. A bee
rests on one of the petals.
A guitar leans against a chair in a small room. Sheet music is spread on the floor and a lamp
gives warm light.
The picture is blurry and dark, so it is hard to tell what it shows. It may be a room with a
window, a table and a chair.
I cannot see any text in the image. The main object is in the middle, and the background is
plain. The colors are mostly gray, white and black.
How many people are in the image? There is one person. Is there a dog? No, there is no dog.
What color is the car? The car is red. Where is the cat? The cat is on the sofa.
The image contains a round clock, a square sign, a long table, a short wall, a big window and a
little box. Each object is clearly visible, large or small, near or far, left or right, top or
bottom, inside or outside, old or new, open or closed, wet or dry, light or heavy.
"""


def corpus_lines() -> list[str]:
    """The built-in corpus, one non-empty line per entry (the training input)."""
    return [line.strip() for line in _CORPUS.strip().splitlines() if line.strip()]


def train_tokenizer(corpus: list[str] | None = None, vocab_size: int = VOCAB_SIZE) -> Tokenizer:
    """Train the byte-level BPE on `corpus` (default: the built-in one); deterministic, well
    under a second."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus_lines() if corpus is None else corpus, trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    # Prepend <s> like Llama tokenizers do, so processor(text=...) matches real LLaVA inputs.
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return tok


def build_tokenizer(corpus: list[str] | None = None, vocab_size: int = VOCAB_SIZE) -> PreTrainedTokenizerFast:
    """The trained tokenizer wrapped for transformers, with pad != eos and the chat template."""
    fast = PreTrainedTokenizerFast(
        tokenizer_object=train_tokenizer(corpus, vocab_size),
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        extra_special_tokens={"image_token": IMAGE},
        padding_side="left",
        model_max_length=512,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast
