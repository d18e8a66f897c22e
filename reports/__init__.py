"""Reports: ablation tables (Markdown, HTML, LaTeX) and paper-ready figures from the run store."""
