"""Threads and per-network text variants as a person typed them, checked and normalised for the
draft and edit paths (:mod:`hub.services.drafts`, :mod:`hub.services.edit_plan`): each part is
text like the post's own, a variant names a target or a network of the policy in force."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from hub.domain.model import Post, Target, Variant, join_thread
from hub.domain.text import check_clean, normalise_newlines
from hub.errors import Conflict, InvalidInput

MAX_PARTS = 25
"""Parts per thread (the text or one variant)."""
MAX_TEXT = 50_000
"""Characters of one thread or variant, all parts together (the post's own limit)."""
MAX_VARIANTS = 20
MAX_VARIANT_NAME = 100        # a network or a target name (target names: at most 63)

VariantsInput = Mapping[str, str | Sequence[str]]
"""``{"bluesky": "shorter text", "mastodon-main": ["part 1", "part 2"]}``."""


def clean_parts(parts: Iterable[str], *, field: str, label: str,
                check_text: bool = True) -> tuple[str, ...]:
    """Each part with normalised line ends and outer whitespace trimmed. ``InvalidInput`` for
    an empty part, too many parts, control characters or a total over ``MAX_TEXT``;
    ``check_text=False`` (previews) drops empty parts instead."""
    out: list[str] = []
    for n, raw in enumerate(parts, 1):
        what = f"{label} part {n}"
        text = check_clean(normalise_newlines(raw), field=field, label=what).strip()
        if not text:
            if check_text:
                raise InvalidInput(f"{what} is empty: write it or remove the part", field=field)
            continue
        out.append(text)
    if len(out) > MAX_PARTS:
        raise InvalidInput(f"{label} has {len(out)} parts; at most {MAX_PARTS}", field=field)
    if len(join_thread(out)) > MAX_TEXT:
        raise InvalidInput(f"{label} is {len(join_thread(out))} characters; the hub accepts at "
                           f"most {MAX_TEXT}", field=field)
    return tuple(out)


def clean_variants(raw: VariantsInput, *, check_text: bool = True) -> tuple[Variant, ...]:
    """The variants, keys trimmed, each one text (a string) or a thread (a list of parts)."""
    if len(raw) > MAX_VARIANTS:
        raise InvalidInput(f"at most {MAX_VARIANTS} variants", field="variants")
    out: dict[str, Variant] = {}
    for key, value in raw.items():
        name = check_clean(str(key).strip(), field="variants", label="a variant's name",
                           one_line=True)
        if not name:
            raise InvalidInput("a variant needs a network or target name, e.g. "
                               '{"bluesky": "a shorter text"}', field="variants")
        if len(name) > MAX_VARIANT_NAME:
            raise InvalidInput(f"a variant's name is a network or target name, at most "
                               f"{MAX_VARIANT_NAME} characters", field="variants")
        if name in out:
            raise InvalidInput(f"two variants for {name!r}", field="variants")
        parts = clean_parts([value] if isinstance(value, str) else list(value),
                            field="variants", label=f"the {name} variant",
                            check_text=check_text)
        if not parts:
            if check_text:
                raise InvalidInput(f"the {name} variant is empty: write it or leave it out",
                                   field="variants")
            continue
        out[name] = Variant(name, parts)
    return tuple(out.values())


def check_variant_keys(variants: Sequence[Variant], targets: Iterable[Target]) -> None:
    """``InvalidInput`` for a variant that names neither a target nor a network of the policy
    (a typo would otherwise send the main text where the owner meant another)."""
    targets = list(targets)
    known = {t.name for t in targets} | {t.platform for t in targets}
    for variant in variants:
        if variant.key not in known:
            networks = sorted({t.platform for t in targets})
            raise InvalidInput(
                f"variant for {variant.key!r}: the policy has no target or network of that "
                f"name (networks: {', '.join(networks) or 'none'}; or name a target)",
                field="variants")


def refuse_thread_edit(post: Post) -> None:
    """``Conflict`` (409) for an edit of a post written as a thread, or with a variant written
    as a thread: its copies are reply chains, and the hub edits one post per copy. A post with
    one-text variants can be edited (``hub.services.edit_plan``)."""
    threads = [v.key for v in post.variants if len(v.parts) > 1]
    if not post.thread and not threads:
        return
    what = f"a thread of {len(post.thread)} parts" if post.thread else \
        "a thread as the variant for " + ", ".join(threads)
    raise Conflict(f"post {post.id} was written as {what}; the hub cannot edit threads yet: "
                   "edit each part on its network, or delete the post and post it again")
