"""The hostile-input corpus: schemas, grammars and regexes that have hurt engines like ours
(see cases.py), the isolation harness that runs each one in a child process with a time and
memory cap (isolate.py), and make_corpus.py, which writes the corpus out as files."""
