"""The Streamlit app (`vsearch ui`), shipped inside the package so a wheel install has it."""
from pathlib import Path

APP_FILE = Path(__file__).with_name("app.py")
