"""Settings: the optional LLM endpoint, where its API key comes from, and the interview set-up defaults.

The API key is never written anywhere: it comes from the environment, ``st.secrets`` or a password field whose
value moves straight into this browser session's memory (``services.remember_key``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import streamlit as st
from pydantic import ValidationError

from app import services, widgets
from app.services import LLMConfig, SavedSettings, scrub_secrets

URL, MODEL, TIMEOUT, KEY_INPUT = "settings_base_url", "settings_model", "settings_timeout", "settings_api_key"
INTERVIEWER, JUDGE, EXAMPLE = "settings_interviewer", "settings_judge", "settings_example"

EXAMPLES = {
    "OpenAI": ("https://api.openai.com/v1", "gpt-4o-mini", "needs an API key"),
    "Ollama": ("http://localhost:11434/v1", "llama3.1", "no key; run `ollama pull llama3.1` first"),
    "vLLM": ("http://localhost:8000/v1", "Qwen/Qwen2.5-7B-Instruct", "the model name `vllm serve` was started with"),
    "LM Studio": ("http://localhost:1234/v1", "qwen2.5-7b-instruct", "the id of the model loaded in LM Studio"),
}
ROLES = {"offline": "Offline (always available)", "llm": "LLM (the endpoint above)"}
FIELD_LABELS = {"llm_base_url": "Base URL", "llm_model": "Model", "llm_timeout_s": "Timeout",
                "default_interviewer": "Default interviewer", "default_judge": "Default judge"}
SHARED_HELP = ("Makes this endpoint and these defaults everyone's, saved in settings.json (never the key). Off "
               "unless the operator starts the app with SIMULATOR_ALLOW_SHARED_SETTINGS=1.")
OFFLINE_NOTE = ("Everything works without an LLM: the offline interviewer and the offline judge (grounded in the "
                "knowledge notes) need no endpoint, no key and no network. An LLM is an optional extra.")


def main() -> None:
    st.title("Settings")
    st.info(OFFLINE_NOTE, icon=":material/wifi_off:")
    saved, problem = services.saved_settings()
    if problem:
        st.warning(f"The saved settings could not be used, so defaults are shown. {problem}")
    status = st.container()
    _examples()
    submitted = _form(saved)
    if submitted is not None:
        _handle(submitted)
    with status:
        _current_endpoint()
    _key_section()
    _voice_section()


def _form(saved: SavedSettings) -> str | None:
    """The endpoint and defaults form; returns which button submitted it ("use", "test", "share") or None."""
    _prefill(saved)
    with st.form("llm_settings", enter_to_submit=False):
        st.subheader("LLM endpoint")
        st.text_input("Base URL", key=URL, placeholder=_env_hint("SIMULATOR_LLM_BASE_URL", "OPENAI_BASE_URL"),
                      help="Any OpenAI-compatible API root, including /v1. Empty uses the environment.")
        st.text_input("Model", key=MODEL, placeholder=_env_hint("SIMULATOR_LLM_MODEL"),
                      help="The model name as the server knows it. Empty uses the environment.")
        st.number_input("Timeout (seconds)", key=TIMEOUT, min_value=1.0, max_value=600.0, step=5.0,
                        help="Per request; local models on a CPU may need a minute or more.")
        st.text_input("API key (optional)", key=KEY_INPUT, type="password", autocomplete="off",
                      help="Kept in memory for this browser session only: never saved to disk or shown again.")
        st.subheader("Interview defaults")
        st.caption("Preselected on the interview set-up form; you can still change them per interview.")
        st.radio("Interviewer", list(ROLES), key=INTERVIEWER, format_func=ROLES.get, horizontal=True)
        st.radio("Judge", list(ROLES), key=JUDGE, format_func=ROLES.get, horizontal=True)
        use, test, share = st.columns(3)
        used = use.form_submit_button("Use in this session", type="primary", icon=":material/check:",
                                      on_click=_capture_key,
                                      help="For this browser tab only: never saved, never seen by anyone else.")
        tested = test.form_submit_button("Test connection", icon=":material/network_check:", on_click=_capture_key)
        shared = share.form_submit_button("Save for everyone", icon=":material/save:", on_click=_capture_key,
                                          disabled=not services.can_save_shared(), help=SHARED_HELP)
    return "use" if used else "test" if tested else "share" if shared else None


def _prefill(saved: SavedSettings) -> None:
    """Start the fields from the saved settings; afterwards they keep what the user typed, even when invalid."""
    defaults = {URL: saved.llm_base_url, MODEL: saved.llm_model, TIMEOUT: float(saved.llm_timeout_s),
                INTERVIEWER: saved.default_interviewer, JUDGE: saved.default_judge}
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


def _env_hint(*names: str) -> str:
    found = services.environment_hint(*names)
    if found:
        return f"from {found}"
    return "e.g. http://localhost:11434/v1" if "SIMULATOR_LLM_BASE_URL" in names else "e.g. llama3.1"


def _capture_key() -> None:
    """Move a typed key into session memory and empty the field, so the page never sends it back to the browser."""
    typed = st.session_state.get(KEY_INPUT, "").strip()
    if typed:
        services.remember_key(typed)
    st.session_state[KEY_INPUT] = ""


def _examples() -> None:
    with st.expander("Examples: OpenAI, Ollama, vLLM, LM Studio", icon=":material/lightbulb:"):
        rows = "\n".join(f"| {name} | `{url}` | `{model}` | {note} |" for name, (url, model, note) in EXAMPLES.items())
        st.markdown(f"| Server | Base URL | Model | Notes |\n|---|---|---|---|\n{rows}")
        st.selectbox("Fill in the form from an example", list(EXAMPLES), index=None, key=EXAMPLE,
                     placeholder="Choose a server…", on_change=_fill_example)


def _fill_example() -> None:
    choice = st.session_state.get(EXAMPLE)
    if choice in EXAMPLES:
        st.session_state[URL], st.session_state[MODEL], _ = EXAMPLES[choice]


def _handle(action: str) -> None:
    chosen, errors = _validated()
    if errors:
        st.error("Nothing was saved. Please fix:\n" + "\n".join(f"- {e}" for e in errors), icon=":material/error:")
        return
    if action == "use":
        services.use_for_session(chosen)
        st.success("In use for this browser session only (nothing was saved).", icon=":material/check_circle:")
    elif action == "share":
        services.save_settings(chosen)
        st.success("Saved as everyone's default (the API key is never saved).", icon=":material/check_circle:")
    else:
        _test_connection(services.llm_endpoint(chosen))


def _validated() -> tuple[SavedSettings | None, list[str]]:
    """The form as settings, or readable reasons it cannot be used."""
    state = st.session_state
    try:
        chosen = SavedSettings(llm_base_url=state[URL], llm_model=state[MODEL].strip(), llm_timeout_s=state[TIMEOUT],
                             default_interviewer=state[INTERVIEWER], default_judge=state[JUDGE])
    except ValidationError as exc:
        return None, [_readable(error) for error in exc.errors()]
    errors = []
    if _has_credentials(chosen.llm_base_url):
        errors.append("Base URL: must not contain a user name or password; use the API key field instead")
    if "llm" in (chosen.default_interviewer, chosen.default_judge) and services.llm_endpoint(chosen) is None:
        errors.append("An LLM default needs an endpoint: set a base URL and a model (here or in the environment)")
    return chosen, errors


def _readable(error: dict) -> str:
    field = FIELD_LABELS.get(str(error["loc"][0]) if error["loc"] else "", "Settings")
    return f"{field}: {error['msg'].removeprefix('Value error, ')}"


def _has_credentials(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return bool(parts.username or parts.password)


def _test_connection(config: LLMConfig | None) -> None:
    if config is None:
        st.error("Enter a base URL and a model first (or set SIMULATOR_LLM_BASE_URL and SIMULATOR_LLM_MODEL).",
                 icon=":material/error:")
        return
    with st.spinner(f"Asking {config.model} at {scrub_secrets(config.base_url)}…"):
        ok, message = services.test_connection(config)
    if ok:
        st.success(message, icon=":material/check_circle:")
    else:
        st.error(f"Connection failed: {message}", icon=":material/error:")


def _current_endpoint() -> None:
    config = services.llm_endpoint()
    if config is None:
        st.caption("LLM: not configured, so interviews use the offline interviewer and judge.")
        return
    scope = "this browser session only" if services.session_endpoint() else "everyone's default"
    st.caption(f"LLM in use ({scope}): **{config.model}** at `{scrub_secrets(config.base_url)}` "
               f"(timeout {config.timeout_s:g} s).")
    if services.session_endpoint():
        st.button("Back to the default endpoint", icon=":material/undo:", on_click=_back_to_default)


def _back_to_default() -> None:
    services.forget_session_endpoint()
    for key in (URL, MODEL, TIMEOUT, INTERVIEWER, JUDGE):
        st.session_state.pop(key, None)


def _key_section() -> None:
    st.subheader("API key")
    st.markdown(f"Key in use: **{services.key_in_use()}**. The key itself is never displayed.")
    st.markdown(
        "Where a key can come from:\n"
        "1. the password field above: memory only, gone when this browser tab's session ends; it is sent to the "
        "endpoint this session uses;\n"
        "2. the operator's key: `SIMULATOR_LLM_API_KEY` (or `OPENAI_API_KEY`) in the environment or in "
        "`.streamlit/secrets.toml`. It is only ever sent to the base URL the operator set beside it "
        "(`SIMULATOR_LLM_BASE_URL`; OpenAI's when none is set), never to a URL typed on this page.\n\n"
        "Local servers such as Ollama, vLLM and LM Studio usually need no key."
    )
    if services.has_typed_key():
        st.button("Forget the typed key", icon=":material/key_off:", on_click=services.forget_key)



def _voice_section() -> None:
    st.subheader("Answering by voice")
    st.markdown("Spoken answers are transcribed on this server by one of these engines; each candidate picks one "
                "in the voice panel under a question (**Answer by voice**):")
    for label in services.speech_engines().values():
        widgets.literal_caption(f"• {label}")  # an endpoint's model name is configuration, shown as typed
    st.caption("`SIMULATOR_SPEECH_MODEL` sets the default offline model (tiny.en or base); "
               "`SIMULATOR_TRANSCRIBER_LLM_MODEL` the endpoint's (whisper-1). The transcript and the delivery "
               "measures are stored with each spoken answer; the recording only when the candidate ticks **Keep "
               "the recording**.")


main()
