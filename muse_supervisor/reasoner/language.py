"""Alarm and log texts in French and German, made readable to an English embedding model.

all-MiniLM-L6-v2, the retrieval model, is trained on English: "Arrêt d'urgence actionné" and
"emergency stop pressed" are as far apart to it as any two unrelated sentences (cosine 0.19,
measured). Sites in Europe get vendor alarm texts in the local language, so before a text is
embedded its domain phrases are replaced by their English meaning from a glossary
(``config/sops/glossary.yaml``). The glossary is the site's to extend; the original text stays in
the evidence exactly as the robot reported it, and the trace says which language was recognised.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml  # type: ignore[import-untyped]

from muse_supervisor.params import ConfigError


def fold(text: str) -> str:
    """Lower case without accents (``Überstrom`` -> ``uberstrom``), apostrophes unified."""
    decomposed = unicodedata.normalize('NFKD', text.casefold())
    plain = ''.join(c for c in decomposed if not unicodedata.combining(c))
    return plain.replace('\u2019', "'").replace('`', "'")


@dataclass(frozen=True)
class Translation:
    """A text as the embedding model gets it, and the languages whose phrases were replaced."""

    text: str
    languages: tuple[str, ...]


class Glossary:
    """Phrase-by-phrase replacement, longest phrase first, on word boundaries."""

    def __init__(self, phrases: Mapping[str, Mapping[str, str]]) -> None:
        entries = [
            (fold(phrase), english, language)
            for language, table in phrases.items()
            for phrase, english in table.items()
        ]
        entries.sort(key=lambda entry: -len(entry[0]))
        self._language = {phrase: language for phrase, _, language in entries}
        self._english = {phrase: english for phrase, english, _ in entries}
        alternatives = '|'.join(re.escape(phrase) for phrase, _, _ in entries)
        self._pattern = re.compile(rf"(?<![\w'])({alternatives})(?![\w])") if entries else None

    def __len__(self) -> int:
        return len(self._english)

    def translate(self, text: str) -> Translation:
        """``text`` with every glossary phrase replaced by its English meaning."""
        if self._pattern is None:
            return Translation(text, ())
        languages: list[str] = []

        def replace(match: re.Match[str]) -> str:
            phrase = match.group(1)
            language = self._language[phrase]
            if language not in languages:
                languages.append(language)
            return self._english[phrase]

        folded = fold(text)
        translated = self._pattern.sub(replace, folded)
        return Translation(translated if languages else text, tuple(languages))


def load_glossary(path: Path) -> Glossary:
    """Read a glossary file; :class:`ConfigError` says what is wrong and where."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f'{path}: cannot read the glossary ({error})') from error
    if not isinstance(data, Mapping) or data.get('version') != 1:
        raise ConfigError(f'{path}: expected a mapping with "version: 1" and "languages"')
    languages = data.get('languages')
    if not isinstance(languages, Mapping):
        raise ConfigError(f'{path}: "languages" must map a language code to phrases')
    for language, table in languages.items():
        if not isinstance(table, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and k.strip() and v.strip()
            for k, v in table.items()
        ):
            raise ConfigError(
                f'{path}: languages.{language}: expected a mapping of phrase to English text'
            )
    return Glossary(languages)
