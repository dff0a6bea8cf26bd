"""The Streamlit app's own layer: services for the pages and shared widgets. Only this layer imports streamlit."""
