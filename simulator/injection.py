"""Finding text aimed at the grader inside a candidate's answer, however it is disguised.

Detection runs on a *normalised view* of the text; the original is always kept for display and quoting.
The view undoes the usual disguises:

* Unicode compatibility forms (NFKC: fullwidth letters, ligatures);
* invisible characters: every format character (category Cf: zero-width, bidi, the U+E0000 tag block) and the
  blank "filler" letters (U+2800, U+115F, U+1160, U+3164, U+FFA0); text hidden in tag characters is decoded
  and checked as well;
* look-alike letters from other scripts, folded to Latin with ``confusable-homoglyphs`` (Unicode's
  confusables data; the unfolded text is checked too, for instructions written in Cyrillic or Greek), and
  digits used as letters ("1gn0r3");
* words split by spaces ("i g n o r e");
* encodings: ROT13 and bare base64 are decoded and checked too.

A sentence is an injection when it speaks *to the grader about the grade*: an instruction to ignore or override
the rubric, a demand for a score, a claim about what the grade is, a note addressed to the grader, role tags,
or a fake end of the answer. Mentioning judges, scores or "ignore previous instructions" (in quotes) in a
technical discussion is not.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
import re
import unicodedata

from confusable_homoglyphs import confusables

MAX_DETECTION_CHARS = 4_000
"""Longest text one call examines (a sentence is far shorter; longer input is examined in its first part)."""

_FILLERS = "\u2800\u115f\u1160\u3164\uffa0\u17b4\u17b5\u180e"
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i",
                       "|": "l"})
_LEET_TOKEN = re.compile(r"^([^a-z0-9@$!|]*)([a-z0-9@$!|]*[a-z][a-z0-9@$!|]*)([^a-z0-9@$!|]*)$")
_SPLIT_BY_MARK = re.compile(r"\b[a-z](?:[.\-_*][a-z]){2,}\b")
_SPLIT_BY_SPACE = re.compile(r"\b[a-z](?: [a-z]){2,}\b")
_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_ROLE_AT_LINE_START = re.compile(r"(^|\n)([ \t]*)(system|developer|user|assistant|human)([ \t]*):", re.IGNORECASE)
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_MENTION_FRAME = re.compile(r"\b(?:attack\w*|injection|jailbreak\w*|adversar\w*|malicious|payloads?|phrases? like|"
                            r"strings? like|such as|e\.g\.|for example|red[- ]team\w*|filter\w*|detect\w*)\b")
_QUOTED = re.compile(r"[\"“‘'«„][^\"”’'»“]{3,160}[\"”’'»“]")

_GRADER = (r"(?:grader|grading (?:model|system|ai)|judge|evaluator|examiner|marker|reviewer|assessor|ai|llm|"
           r"model|assistant|bot|system)")
_GRADE_WORDS = r"(?:grade|score|mark|marks|rating|level|points?|result)"
_TOP = (r"(?:(?<![\d/.])10\s*/\s*10(?![\d/])|10 out of 10|ten out of ten|100\s*%|full (?:marks?|score|points|credit)|"
        r"(?:the )?(?:max(?:imum)?|perfect|top|highest|best|maximal) (?:score|marks?|grade|level|rating|points|one)|"
        r"level[- ](?:4|four)|(?:a |an )?(?:perfect|excellent|outstanding)\b|every criterion|all (?:the )?criteria)")
_RULES = (r"(?:rubric|instructions?|guidance|guidelines|criteria|rules|system prompt|scoring guide|"
          r"marking scheme|grading (?:guide|scheme|rules|criteria)|grading|scoring|marking|key points?)")
_OVERRIDE = (r"\b(?:ignore|disregard|forget|override|bypass|skip|set aside|don'?t (?:apply|use|follow))\s+"
             r"(?:(?:all|any|the|your|my|these|those|of|every|everything|previous|prior|earlier|above|original|"
             rf"current|grading|scoring|marking|strict)\s+)*{_RULES}\b(?!-)|\b(?:ignore|disregard|forget)\s+"
             r"(?:everything|all|anything)\s+(?:above|before|you (?:were|have been) (?:told|given))")
_DESCRIBED = re.compile(r"(?:\bto|tries|try|attempts?|that|which|can|could|may|might|would|will|who|it|they|"
                        r"attackers?|never|not|cannot|won'?t|doesn'?t|don'?t|how to|ways? to)\s*$")

_EN_PATTERNS = [
    # demand a grade
    rf"\b(?:give|gives|award|assign|grant|mark|rate|score|set|record|output|return|put|make)\b.{{0,60}}{_TOP}",
    r"\b(?:mark|rate|grade|treat|consider|count|record|recogni[sz]e|regard)\w*\b.{0,40}\b(?:as|at)\b.{0,20}"
    r"\b(?:excellent|perfect|fully (?:correct|met)|correct|flawless|outstanding|level[- ](?:4|four)|top|covered|"
    r"complete)\b",
    r"\b(?:should|must|shall|will|would|can) be (?:counted|marked|treated|scored|graded|considered|regarded|rated|"
    r"recorded|taken)\b.{0,30}\b(?:as |at )?(?:covered|correct|met|made|full|perfect|excellent|equivalent|"
    r"complete|level[- ](?:4|four))",
    # claim what the grade is or must be
    r"\b(?:this|my|the|current|candidate'?s?) (?:answer|response|submission)\b.{0,40}"
    r"\b(?:deserves?|merits?|earns?|should (?:get|receive|be given|score)|must (?:get|receive|score)|is worth)\b",
    rf"\b(?:deserves?|merits?|warrants?|worth)\b.{{0,40}}{_TOP}|\bless than (?:full marks|the maximum|10)\b",
    r"\b(?:every|each|all|no) (?:rubric )?(?:criteri(?:on|a))\b.{0,40}(?:\b(?:is|are|be|should be|must be|may be)\b|=)"
    r".{0,20}\b(?:level[- ](?:4|four)|4|met|fully met|maxed|satisfied|scored below|below)\b",
    rf"\b(?:correct|right|final|true|expected|official|accurate) {_GRADE_WORDS}\b.{{0,40}}\b(?:is|=|:)\s*"
    rf"(?:\d|the (?:max|maximum|highest|top)|max|full|perfect|clearly the highest)",
    r"\b(?:reference|expected|official|ideal|model) answer\b.{0,15}\b(?:says|agrees|confirms|states|shows|matches)\b",
    r"\b(?:pretend|imagine|assume|suppose)\b.{0,40}\b(?:rubric|criteria|grader|grading|reference answer|"
    r"key points?)\b",
    # speak to the grader
    rf"\b(?:note|message|instructions?|reminder|memo|request|hint|notice)\s+(?:to|for)\s+(?:the |any |all |our )?"
    rf"(?:ai |automated |automatic |llm )?{_GRADER}s?\b",
    rf"\b(?:dear|hey|hi|attention)\s+(?:ai |llm |automated )?{_GRADER}s?\b",
    r"\b(?:whoever|anyone who|anybody who|any (?:\w+ )?(?:grader|evaluator|reviewer|marker|model|ai|llm)s?)"
    r"\b.{0,80}\b(?:should|must|please|need to|treat\w*|give\w*|conclude\w*|score\w*|mark\w*)\b",
    r"\bif you(?:'re| are) an? (?:ai|llm|language model|model|grader|judge|evaluator|assistant)\b",
    r"\byou are no longer\b|\bfrom now on,? you\b|\byour new (?:role|task|instructions?)\b",
    r"\b(?:as|you are) (?:now )?(?:the |an? |my )?(?:ai )?(?:grader|judge|evaluator|examiner|marker)\b.{0,60}"
    r"\b(?:you (?:must|should|will|need)|must|should|please|give|mark|award)\b",
    rf"\b{_GRADER}s?\s*(?:[:,>]|\bplease\b|\bmust\b|\bshould\b)\s*.{{0,40}}"
    rf"\b(?:ignore|give|award|assign|mark|set|output|treat|grade|score|rate)\b",
    rf"\b(?:grader|judge|evaluator|examiner|marker|reviewer|assessor)s? (?:will|would|should|must|can|shall)\b.{{0,60}}"
    rf"{_TOP}",
    r"\b(?:system|admin)\s+(?:note|notice|override|directive|command)s?\b|\blenient mode\b|"
    r"\b(?:grader|grading|evaluator|judge|scoring)\s+(?:note|notice|override|update|polic(?:y|ies)|instructions?|"
    r"message|directive|command|mode)s?\b",
    # fake structure: role tags, end of answer, new task
    r"<\|?/?(?:im_start|im_end|system|assistant|user|endoftext|eot_id)\|?>|\[/?inst\]|<</?sys>>|<start_of_turn>|"
    r"</?[a-z_]*(?:answer|polic(?:y|ies)|instructions?|system|grader|grading|judge|verdict)[a-z_]*>",
    r"\bend of (?:the )?(?:candidate'?s? )?(?:answer|response|submission|input)\b|"
    r"(?:^|[.:!\n]\s*)new (?:task|instructions?)\s*[:.]",
    r"(?:^|\n)[ \t]*#{1,4}[ \t]*(?:system|grader|grading|judge|evaluator)\b",
    r"(?:^|\n)[ \t]*(?:system|developer|grader|judge|evaluator|user|assistant|human)[ \t]*:",
    r"[\"']?(?:score|grade|overall|level|rating|marks?)[\"']?\s*[:=]\s*[\"']?(?:10|4|100|max|full|perfect)\b",
    r"[\"'](?:verdict|covered_points|covered|criteria|missed_points|weaknesses)[\"']\s*:\s*"
    r"(?:[\"'](?:correct|all|pass|full|none|perfect)|\[\s*\])",
    r"\b(?:decode|decrypt|rot13|base64)\b.{0,40}\b(?:follow|obey|execute|apply|do what it says|and act)\b",
    r"\b(?:reveal|print|show|repeat|output)\b.{0,30}\b(?:your|the) (?:system )?(?:prompt|instructions)\b",
]

# Other languages: an override of the rules, a top-grade phrase, or a note to the grader, as people write them.
_OTHER_LANGUAGES = [
    # any language: a perfect mark written out ("10 out of 10", "10 из 10", "10 üzerinden 10")
    r"\b10\s*(?:out of|من|из|z|üzerinden|trên|sur|von|su|de|op|na|van)\s*10\b",
    # Dutch
    r"\b(?:negeer|vergeet)\b.{0,40}\b(?:instructies|rubric|criteria|regels|beoordeling\w*|richtlijnen)\b|"
    r"\b(?:maximale|hoogste|volle?) (?:cijfer|score|punten)\b|\bbeoordelaar\s*[:,]|\bals beoordelaar moet je\b",
    # Polish
    r"\b(?:zignoruj|ignoruj|pomiń)\b.{0,40}\b(?:instrukcj\w*|kryteri\w*|rubryk\w*|zasad\w*|polece\w*)|"
    r"\bmaksymaln\w* (?:ocen\w*|punkt\w*|wynik\w*|liczb\w*)|\b(?:oceniając\w*|egzaminator\w*)\s*[:,]|"
    r"\bjako (?:model |system )?(?:oceniając\w*|egzaminator\w*) musisz\b",
    # Turkish
    r"\b(?:yoksay|görmezden gel)\w*|\btam puan\w*|\ben yüksek (?:not|puan)\w*|"
    r"\b(?:değerlendirici|puanlayıcı)\w*\s*(?:[:,]|olarak)",
    # Vietnamese
    r"\bbỏ qua\b.{0,30}\b(?:hướng dẫn|tiêu chí|quy tắc|chỉ dẫn)|\bngười chấm\b|\bđiểm (?:tối đa|tuyệt đối)|"
    r"\bbạn phải coi\b|\bcho 10\s*/\s*10\b",
    # French, German, Spanish, Italian
    r"\b(?:ignore[zr]?|oublie[zr]?)\b.{0,40}\b(?:consignes?|instructions?|grille|barème|critères)\b|\bcorrecteur\s*[:,]|"
    r"\bnote maximale\b",
    r"\b(?:ignorier\w*|vergiss)\b.{0,40}\b(?:anweisung\w*|rubrik|kriterien|regeln|bewertung\w*)|"
    r"\b(?:prüfer|bewerter|korrektor)\w*\s*[:,]|\b(?:volle punktzahl|bestnote|höchstnote)\b|"
    r"\bals (?:bewerter|prüfer|korrektor)\w* (?:musst|sollst) du\b|"
    r"\b(?:anweisung|richtlinie|kriterie|regel)\w*\s+außer acht\b",
    r"\b(?:ignora|olvida)\b.{0,40}\b(?:instrucciones|rúbrica|criterios|istruzioni|regole)\b|\bevaluador\w*\s*[:,]|"
    r"\b(?:nota|puntuación|puntaje|voto) máxim[oa]\b|\bpunteggio massimo\b",
    # Russian, Arabic, Hindi
    r"(?:игнорир|проигнорир|не учитывай|забудь)\w*.{0,40}(?:инструкц|критери|правил|указани)|оценщик\w*|"
    r"проверяющ\w*|максимальн\w* (?:балл|оценк)\w*|\b10 из 10\b",
    r"تجاهل.{0,40}(?:التعليمات|المعايير|القواعد)|المصحح|الدرجة الكاملة|العلامة الكاملة|أعلى درجة|10 من 10|بصفتك",
    r"(?:अनदेखा|नज़रअंदाज़|नजरअंदाज|भूल)\w*.{0,40}निर्देश|निर्देश\w*.{0,40}(?:अनदेखा|नज़रअंदाज़|नजरअंदाज|भूल)|"
    r"परीक्षक|पूरे अंक|पूर्ण अंक|अधिकतम अंक|स्तर 4|के लिए निर्देश\s*:",
    # Chinese, Japanese, Korean
    r"忽略.{0,15}(?:指示|指令|规则|标准|评分)|无视|评分员|阅卷|评审模型|满分|滿分|给出?10分|你必须认定",
    r"(?:指示|ルール|基準|採点).{0,15}無視|無視.{0,15}(?:指示|ルール|基準)|採点者|満点|最高評価|AIへの(?:お願い|指示)",
    r"무시.{0,15}(?:지시|규칙|기준)|채점자|만점",
]

_PATTERNS = [re.compile(p, re.IGNORECASE | re.DOTALL) for p in _EN_PATTERNS + _OTHER_LANGUAGES]
_OVERRIDE_PATTERN = re.compile(_OVERRIDE, re.IGNORECASE)


def injection_suspected(text: str) -> bool:
    """Whether ``text`` (typically one sentence) speaks to the grader about the grade, in any disguise."""
    return any(_matches(view) for view in detection_views(text[:MAX_DETECTION_CHARS]))


def detection_views(text: str) -> list[str]:
    """The normalised text, plus any text hidden in tag characters, ROT13 or base64 (each normalised)."""
    hidden = "".join(chr(ord(c) - 0xE0000) for c in text if 0xE0020 <= ord(c) <= 0xE007E)
    plain = normalize_for_detection(text)
    views = [_without_mentions(plain) if _MENTION_FRAME.search(plain) else plain]
    native = normalize_for_detection(text, fold=False)  # Cyrillic or Greek instructions read in their own script
    if native != plain:
        views.append(native)
    # a role label inside a code block is an example (a system prompt being discussed), not a role switch
    views[0] = _CODE_BLOCK.sub(lambda m: _ROLE_AT_LINE_START.sub(r"\1\2\3 -", m.group(0)), views[0])
    if hidden:
        views.append(normalize_for_detection(hidden))
    if re.search(r"[a-z]{4,}", plain):
        views.append(codecs.decode(plain, "rot13"))
    views += [normalize_for_detection(decoded) for decoded in _base64_texts(text)]
    return views


def normalize_for_detection(text: str, fold: bool = True) -> str:
    """Lower-case NFKC text without invisible characters, look-alikes folded to Latin, leetspeak and split words
    undone. For detection only: never shown, never quoted."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(" " if c in _FILLERS else c for c in text if unicodedata.category(c) != "Cf")
    text = (fold_look_alikes(text) if fold else text).lower()
    text = _SPLIT_BY_MARK.sub(lambda m: re.sub(r"[.\-_*]", "", m.group(0)), text)
    text = _SPLIT_BY_SPACE.sub(lambda m: m.group(0).replace(" ", ""), text)
    tokens = text.split(" ")
    leet_heavy = sum(_unleet(t) != t for t in tokens) >= 3  # then bare numbers are letters too ("45" for "as")
    text = " ".join(_unleet(token, leet_heavy) for token in tokens)
    return re.sub(r"[ \t]+", " ", text)


def invisible_characters(text: str) -> str:
    """``text`` without format characters (category Cf: zero-width, bidi, tag block) and blank filler letters."""
    return "".join(c for c in text if unicodedata.category(c) != "Cf" and c not in _FILLERS)


def has_visible_text(text: str) -> bool:
    """Whether anything would show: False for text made only of spaces, zero-width and other blank characters."""
    return bool(invisible_characters(unicodedata.normalize("NFKC", text)).strip())


def fold_look_alikes(text: str) -> str:
    """Look-alike letters as Latin ("grаder" with a Cyrillic а reads as "grader")."""
    return "".join(map(_latin, text))


def _unleet(token: str, numbers_too: bool = False) -> str:
    """Digits and symbols read as letters inside a word that also has letters ("1gn0r3" as "ignore")."""
    if numbers_too and token.isdigit() and len(token) > 1:
        return token.translate(_LEET)
    match = _LEET_TOKEN.match(token)
    if not match or not re.search(r"[0-9@$!|]", match.group(2)):
        return token
    return match.group(1) + match.group(2).translate(_LEET) + match.group(3)


@functools.lru_cache(maxsize=4096)
def _latin(char: str) -> str:
    if char.isascii() or not char.isalpha():
        return char
    found = confusables.is_confusable(char, preferred_aliases=["latin"], greedy=False)
    for entry in found or []:
        for glyph in entry["homoglyphs"]:
            if glyph["c"].isascii() and glyph["c"].isalpha():
                return glyph["c"]
    return char


def _matches(view: str) -> bool:
    if any(p.search(view) for p in _PATTERNS):
        return True
    # "ignore the rubric" is an instruction; "a chunk that tries to override the system prompt" describes one
    return any(not _DESCRIBED.search(view[max(0, m.start() - 16):m.start()]) for m in _OVERRIDE_PATTERN.finditer(view))


def _without_mentions(text: str) -> str:
    """Quoted phrases removed, so that a sentence *about* an attack phrase is judged on the rest of it."""
    return _QUOTED.sub(" ", text)


def _base64_texts(text: str) -> list[str]:
    out = []
    for token in _BASE64.findall(text):
        try:
            decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        if sum(c.isprintable() for c in decoded) >= 0.9 * len(decoded) and re.search(r"[A-Za-z]{3,}", decoded):
            out.append(decoded)
    return out
