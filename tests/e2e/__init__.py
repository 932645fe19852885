"""End-to-end tests: the lessons in JupyterLab, in headless Chromium (see README.md here)."""
