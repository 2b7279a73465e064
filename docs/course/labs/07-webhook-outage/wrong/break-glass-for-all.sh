#!/usr/bin/env bash
# A plausible wrong answer: "break glass = a namespace without the label is not checked", written as
# a selector for namespaces WITHOUT the enforce label. Every enforced namespace is now exempt.
# expect: namespace jobs
# shellcheck source=pipelines/lib/lab.sh
. "$PORTCULLIS_ROOT/pipelines/lib/lab.sh"
bash "$LAB_DIR/solve.sh"
for f in "$LAB_HOME"/*webhookconfiguration.yaml; do
    python3 - "$f" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
old = '''        - key: portcullis.dev/enforce
          operator: In
          values:
            - "true"
'''
assert old in text, path
open(path, "w").write(text.replace(old, '''        - key: portcullis.dev/enforce
          operator: DoesNotExist
'''))
PY
done
