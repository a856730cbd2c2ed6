"""What the demo corpus's speakers say: the rows (speaker, label, split, session) and the
templated transcripts.

Some transcripts carry words of the utterance's emotion, some are uninformative, some carry
another emotion's words (contradicting the voice). The text categories are drawn
independently of the audio, so the errors of the two modalities are independent and a fusion
of both beats either one.
"""

from __future__ import annotations

import numpy as np

from ._demo_speech import DEMO_CLASSES

# Share of transcripts per category; the rest contradict the voice.
_P_MATCH = 0.55
_P_UNINFORMATIVE = 0.33

_SESSION_LEN = 8  # utterances per dialogue ("session") of a speaker

# Words and sentences that carry each emotion. {adj} takes one of the class adjectives,
# {topic} one of the shared topics (which carry no emotion).
_ADJ: dict[str, list[str]] = {
    "neutral": ["fine", "okay", "calm", "alright"],
    "happiness": ["happy", "delighted", "thrilled", "glad"],
    "sadness": ["sad", "heartbroken", "miserable", "devastated"],
    "anger": ["furious", "angry", "outraged", "livid"],
    "fear": ["scared", "terrified", "afraid", "frightened"],
    "disgust": ["disgusted", "revolted", "sickened", "repulsed"],
    "surprise": ["surprised", "amazed", "astonished", "shocked"],
}
_EMO_TEMPLATES = [
    "I am so {adj} about the {topic}",
    "honestly the {topic} makes me {adj}",
    "I feel {adj} right now",
    "we were all {adj} after the {topic}",
    "you know I am {adj} about this",
]
_PHRASES: dict[str, list[str]] = {
    "neutral": [
        "the {topic} went as expected",
        "nothing special to report about the {topic}",
        "it is just an ordinary day",
        "that seems reasonable to me",
    ],
    "happiness": [
        "this is wonderful news",
        "what a lovely gift the {topic} was",
        "I love the {topic} so much",
        "we did it and it is fantastic",
    ],
    "sadness": [
        "I miss them so much",
        "nothing will ever be the same again",
        "the {topic} broke my heart",
        "I wish things were different and I cry about it",
    ],
    "anger": [
        "this is completely unacceptable",
        "I have had it with the {topic}",
        "how dare you say that to me",
        "stop wasting my time with the {topic}",
    ],
    "fear": [
        "I dread what happens next",
        "please do not leave me alone here",
        "the {topic} gives me the creeps",
        "I am worried something terrible will happen",
    ],
    "disgust": [
        "that is absolutely gross",
        "the {topic} was vile and filthy",
        "yuck I cannot even look at it",
        "the smell makes me want to throw up",
    ],
    "surprise": [
        "wow I did not see that coming",
        "no way the {topic} really happened",
        "what a shock that was",
        "I can hardly believe the {topic}",
    ],
}
_UNINFORMATIVE = [
    "the meeting is on {day}",
    "please send the {topic} notes to {name}",
    "the train leaves at {time}",
    "we need two more chairs for the {topic}",
    "the {topic} starts after lunch on {day}",
    "I will call {name} back later",
    "the office is on the third floor",
    "can you check the {topic} again on {day}",
    "{name} said the {topic} is next week",
    "the bus stops near the station at {time}",
]
_TOPICS = ["delay", "meeting", "results", "weekend", "letter", "project", "trip", "party"]
_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]
_NAMES = ["anna", "peter", "maria", "john"]
_TIMES = ["nine", "noon", "four"]


def _splits(n_speakers: int) -> list[str]:
    """Split by speaker: the last quarter test, the one before dev, the rest train."""
    n_test = 0 if n_speakers < 2 else max(1, round(n_speakers / 4))
    n_dev = 1 if n_speakers >= 3 else 0
    n_train = n_speakers - n_test - n_dev
    return ["train"] * n_train + ["dev"] * n_dev + ["test"] * n_test


def _plan(n_speakers: int, n_per_class: int, classes: tuple[str, ...], seed: int) -> list[dict]:
    """Decide every row: speaker, label, text category and sentence, session and order."""
    rng = np.random.default_rng([seed, 0])
    splits = _splits(n_speakers)
    n_total = n_speakers * n_per_class
    # Exact text-category shares per class, shuffled over that class's utterances.
    categories: dict[str, list[str]] = {}
    for c in classes:
        n_match = round(_P_MATCH * n_total)
        n_uninf = round(_P_UNINFORMATIVE * n_total)
        if len(classes) == 1:  # nothing to contradict with
            n_uninf = n_total - n_match
        cats = ["match"] * n_match + ["uninformative"] * n_uninf
        cats += ["contradict"] * (n_total - len(cats))
        categories[c] = list(rng.permutation(cats))

    rows: list[dict] = []
    for s in range(n_speakers):
        speaker = f"spk{s + 1:02d}"
        # Emotions come in short runs (1-3 turns) so dialogue context carries information.
        blocks = []
        for c in classes:
            left = n_per_class
            while left:
                size = min(left, int(rng.integers(1, 4)))
                blocks.append((c, size))
                left -= size
        order: list[str] = []
        for b in rng.permutation(len(blocks)):
            order += [blocks[b][0]] * blocks[b][1]
        seen = dict.fromkeys(classes, 0)
        for i, label in enumerate(order):
            k = seen[label]
            seen[label] += 1
            ci = DEMO_CLASSES.index(label)
            cat = categories[label][s * n_per_class + k]
            text_class = label
            if cat == "contradict":
                others = [c for c in classes if c != label]
                text_class = others[int(rng.integers(len(others)))]
            text = _sentence(rng, cat, text_class)
            uid = f"{speaker}_{i:03d}"
            rows.append(
                {
                    "id": uid,
                    "path": f"wav/{speaker}/{uid}.wav",
                    "text": text,
                    "label": label,
                    "label_original": label,
                    "speaker": speaker,
                    "dialogue_id": f"{speaker}_s{i // _SESSION_LEN + 1:02d}",
                    "utterance_index": i % _SESSION_LEN,
                    "split": splits[s],
                    "start": np.nan,
                    "end": np.nan,
                    "corpus": "demo",
                    "_spk": s,
                    "_cls": ci,
                    "_k": k,
                    "_text_category": cat,
                }
            )
    return rows


def _sentence(rng: np.random.Generator, category: str, cls: str) -> str:
    def pick(options: list[str]) -> str:
        return options[int(rng.integers(len(options)))]

    if category == "uninformative":
        template = pick(_UNINFORMATIVE)
    else:  # an emotion word always, sometimes with a phrase of the same emotion around it
        template = pick(_EMO_TEMPLATES)
        r = rng.random()
        if r < 0.3:
            template = pick(_PHRASES[cls]) + " and " + template
        elif r < 0.6:
            template = template + " because " + pick(_PHRASES[cls])
    return template.format(
        adj=pick(_ADJ[cls]),
        topic=pick(_TOPICS),
        day=pick(_DAYS),
        name=pick(_NAMES),
        time=pick(_TIMES),
    )
