"""The JSON whitespace policies of ``Grammar.from_json_schema`` (``whitespace=...``), in a
module without imports, so that the command line can list them without loading the
compiler.  What each allows between two JSON tokens (lexemes), exactly:

* ``"compact"``: nothing (``{"a":1,"b":[1,2]}``);
* ``"separators"``: what ``json.dumps`` writes, nothing else: one optional space after
  each ``,`` and ``:`` (``{"a": 1, "b": [1, 2]}`` and the compact form);
* ``"pretty"``: one space, or one newline followed by 0..``max_ws``-1 spaces of
  indentation (``json.dumps(x, indent=2)`` up to 15 levels with the default
  ``max_ws=32``), or nothing;
* ``"flexible"``: 1..``max_ws`` characters of space, tab, CR and LF, or nothing.
"""

#: the policies, from the strictest to the loosest
WHITESPACE_POLICIES = ("compact", "separators", "pretty", "flexible")
#: the default of ``Grammar.from_json_schema``, the CLI, ``decoder.generate`` and the HF
#: processor, chosen by measurement (docs/benchmarks.md, "JSON whitespace policy"); the
#: serving integrations keep their engines' convention (``"flexible"``, or ``"compact"``)
DEFAULT_WHITESPACE = "pretty"
