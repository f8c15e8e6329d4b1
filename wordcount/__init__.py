"""Code shared by both word-count jobs.

Everything here is job-agnostic: settings (`config`), what a word is
(`tokenize`), which files are input (`inputs`), the word table and its file
format (`table`), starting and reaping child processes (`procs`), crash
injection (`crash`) and user-facing errors (`errors`).
"""
