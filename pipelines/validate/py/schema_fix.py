"""A CRD JSON schema that Python's re (check-jsonschema) accepts.

    python schema_fix.py IN OUT

prometheusrule_v1.json carries the RE2 inline flag "(?i)" in one pattern, which Python's re and
check-jsonschema's ECMAScript engine reject. The copy spells the same case-insensitive pattern
out. Any other inline flag is an error: the schema changed and this rewrite needs a look.
"""

import sys

KNOWN = {'"^(?i)(abort|warn)?$"': '"^([Aa][Bb][Oo][Rr][Tt]|[Ww][Aa][Rr][Nn])?$"'}


class UnknownInlineFlag(ValueError):
    """The schema has an inline regex flag this module does not know how to spell out."""


def needs_fix(text):
    return "(?i)" in text


def spell_out(text):
    """text with the known (?i) patterns spelled out; raises UnknownInlineFlag if one is left."""
    for old, new in KNOWN.items():
        text = text.replace(old, new)
    if needs_fix(text):
        raise UnknownInlineFlag(
            "unexpected inline regex flag (?i): extend KNOWN in pipelines/validate/py/schema_fix.py"
        )
    return text


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: schema_fix.py IN OUT")
    with open(argv[1]) as fh:
        text = fh.read()
    try:
        fixed = spell_out(text)
    except UnknownInlineFlag as e:
        sys.exit(f"{argv[1]}: {e}")
    with open(argv[2], "w") as fh:
        fh.write(fixed)


if __name__ == "__main__":
    main(sys.argv)
