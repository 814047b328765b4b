"""Launcher for `streamlit run ui/app.py -- --home DIR` from a checkout; the app itself ships
inside the package (vsearch/ui/app.py) and `vsearch ui` runs it directly."""
from vsearch.ui.app import main

main()
