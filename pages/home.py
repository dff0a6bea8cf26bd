import streamlit as st

from simulator import resources

st.title("Interview Simulator")
st.caption("Practise the question every AI engineer gets: RAG or fine-tuning?")
bundle = resources.content()
st.write(bundle.summary())
if bundle.problems:
    with st.expander(f"{len(bundle.problems)} content problem(s)"):
        st.code("\n".join(str(p) for p in bundle.problems), language=None)
