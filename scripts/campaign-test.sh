#!/usr/bin/env bash
# Tests the campaign's shard/merge path on this machine with tiny seed counts, by running the
# very commands the GitHub workflow (.github/workflows/campaign.yml) and the Kubernetes Jobs
# (deploy/k8s/*.yaml) run: their `run:` / `command:` strings are read from the YAML files and
# executed, each shard as its own process, side by side. Then it checks:
#   - the YAML files parse, and their shard counts agree (matrix length, SHARDS, completions);
#   - the merged summary (seeds, violations, virtual time, combined trace hash) is exactly the
#     summary of one `sim run` over the same seeds, and so is every seed's trace hash;
#   - the JUnit reports parse and count the failing seeds; the merge exits 1 on failures and
#     gathers one seed file per failing seed.
# It does so twice: on the plain campaign, and with a canary (a deliberate bug,
# replica-appends-twice) so that seeds fail and the failure path is exercised too.
#
#   scripts/campaign-test.sh            (needs the release sim binary, or $CLUSTERLAB)
#   CAMPAIGN_TEST_SEED=N SHARDS=3 SEEDS_PER_SHARD=2 scripts/campaign-test.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export CLUSTERLAB=${CLUSTERLAB:-$repo/target/sim/release/clusterlab}
if [[ ! -x "$CLUSTERLAB" ]]; then
    echo "no sim binary at $CLUSTERLAB: RUSTFLAGS=\"--cfg madsim\" cargo build --release" \
        "--target-dir target/sim -p clusterlab" >&2
    exit 2
fi
command -v python3 >/dev/null && python3 -c 'import yaml' \
    || { echo "needs python3 with PyYAML (apt-get install python3-yaml)" >&2; exit 2; }

first=${CAMPAIGN_TEST_SEED:-4242000}
shards=${SHARDS:-3}
per_shard=${SEEDS_PER_SHARD:-2}
total=$((shards * per_shard))
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
# The workflow runs `scripts/campaign.sh` from the checkout's root; the Kubernetes image has
# campaign.sh on the PATH. Both are this repository's script.
mkdir -p "$root/bin"
ln -s "$repo/scripts/campaign.sh" "$root/bin/campaign.sh"
export SHARDS=$shards FIRST_SEED=$first SEEDS_PER_SHARD=$per_shard

echo "== the commands, from the YAML files"
python3 - "$repo" "$shards" > "$root/commands.sh" <<'EOF'
import shlex, sys, yaml
repo, shards = sys.argv[1], int(sys.argv[2])
workflow = yaml.safe_load(open(f"{repo}/.github/workflows/campaign.yml"))
jobs = workflow["jobs"]
matrix = jobs["shard"]["strategy"]["matrix"]["shard"]
assert int(workflow["env"]["SHARDS"]) == len(matrix) == len(set(matrix)), "SHARDS vs matrix"
assert matrix == list(range(len(matrix))), "matrix is 0..SHARDS-1"
def run_of(job, needle):
    runs = [s["run"] for s in jobs[job]["steps"] if needle in s.get("run", "")]
    assert len(runs) == 1, (job, needle)
    return runs[0]
gh_shard = run_of("shard", "campaign.sh shard").replace("${{ matrix.shard }}", "$SHARD_INDEX")
gh_merge = run_of("merge", "campaign.sh merge")
assert "${{" not in gh_shard + gh_merge, "only matrix.shard is substituted"
docs = list(yaml.safe_load_all(open(f"{repo}/deploy/k8s/campaign-job.yaml")))
job = next(d for d in docs if d["kind"] == "Job")
assert job["spec"]["completionMode"] == "Indexed"
pod = job["spec"]["template"]["spec"]["containers"][0]
env = {e["name"]: e["value"] for e in pod["env"]}
assert int(env["SHARDS"]) == job["spec"]["completions"] == job["spec"]["parallelism"]
k8s_shard = pod["command"]
merge_doc = yaml.safe_load(open(f"{repo}/deploy/k8s/campaign-merge-job.yaml"))
k8s_merge = merge_doc["spec"]["template"]["spec"]["containers"][0]["command"]
print(f"gh_shard={shlex.quote(gh_shard)}")
print(f"gh_merge={shlex.quote(gh_merge)}")
print(f"k8s_shard=({' '.join(shlex.quote(a) for a in k8s_shard)})")
print(f"k8s_merge=({' '.join(shlex.quote(a) for a in k8s_merge)})")
EOF
# shellcheck disable=SC1091
source "$root/commands.sh"
# shellcheck disable=SC2154 # set by commands.sh
printf '  workflow shard: %s\n  workflow merge: %s\n  k8s shard: %s\n  k8s merge: %s\n' \
    "$gh_shard" "$gh_merge" "${k8s_shard[*]}" "${k8s_merge[*]}"

# One pass: one run over all the seeds, the two sharded paths, the checks. $1 names the pass,
# $2 holds extra `sim run` flags (given to the one run and, through CAMPAIGN_FLAGS, the shards).
one_pass() {
local name=$1 extra=$2
work=$root/$name
mkdir -p "$work/gh" "$work/k8s"
ln -s "$repo/scripts" "$work/gh/scripts"
# No shrinking: the figures compared do not depend on it.
export CAMPAIGN_FLAGS="--jobs 1 --shrink-runs 0 $extra"
echo "== [$name] one run: seeds $first..$((first + total - 1)) $extra"
status=0
# shellcheck disable=SC2086 # extra is a list of flags
"$CLUSTERLAB" sim run --seed "$first" --seeds "$total" --jobs 1 --no-save $extra \
    --json "$work/one.jsonl" --junit "$work/one.xml" > "$work/one.txt" 2>&1 || status=$?
[[ $status -le 1 ]] || { cat "$work/one.txt"; exit 1; }

echo "== [$name] GitHub Actions path: $shards shard processes, then the merge"
pids=()
for ((i = 0; i < shards; i++)); do
    (cd "$work/gh" && SHARD_INDEX=$i bash -c "$gh_shard" > "$work/gh-shard-$i.txt" 2>&1) &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
gh_status=0
(cd "$work/gh" && bash -c "$gh_merge" > "$work/gh-merge.txt" 2>&1) || gh_status=$?

echo "== [$name] Kubernetes path: $shards indexed pods, then the merge Job"
pids=()
for ((i = 0; i < shards; i++)); do
    (PATH="$root/bin:$PATH" JOB_COMPLETION_INDEX=$i \
        "${k8s_shard[@]//\/results/$work/k8s}" > "$work/k8s-shard-$i.txt" 2>&1) &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
k8s_status=0
(PATH="$root/bin:$PATH" "${k8s_merge[@]//\/results/$work/k8s}" > "$work/k8s-merge.txt" 2>&1) \
    || k8s_status=$?

echo "== [$name] checks"
python3 - "$work" "$shards" "$total" "$gh_status" "$k8s_status" <<'EOF'
import glob, json, os, sys, xml.etree.ElementTree as ET
work, shards, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
statuses = {"gh": int(sys.argv[4]), "k8s": int(sys.argv[5])}
def summary(path):
    """The summary block, from `scenario:` to `trace hash:`, less the wall-clock lines."""
    lines = [l.rstrip() for l in open(path)]
    start = next(i for i, l in enumerate(lines) if l.startswith("scenario:"))
    end = next(i for i, l in enumerate(lines) if l.startswith("trace hash:"))
    return [l for l in lines[start:end + 1] if not l.startswith(("wall time:", "throughput:"))]
def seeds(paths):
    out = {}
    for p in paths:
        for line in open(p):
            r = json.loads(line)
            assert r["seed"] not in out, f"seed {r['seed']} ran twice"
            out[r["seed"]] = (r["trace_hash"], r["ok"], [v["name"] for v in r["violations"]])
    return out
one = summary(f"{work}/one.txt")
one_seeds = seeds([f"{work}/one.jsonl"])
assert len(one_seeds) == total, one_seeds
failing = sum(1 for s in one_seeds.values() if not s[1])
for path in ("gh", "k8s"):
    out = f"{work}/{path}" if path == "k8s" else f"{work}/gh/out"
    shard_files = sorted(glob.glob(f"{out}/shard-*.jsonl"))
    assert len(shard_files) == shards, (path, shard_files)
    assert seeds(shard_files) == one_seeds, f"{path}: per-seed results differ"
    merged = summary(f"{out}/summary.txt")
    assert merged == one, f"{path}: merged summary differs\n{merged}\n{one}"
    report = ET.parse(f"{out}/junit.xml").getroot()
    assert int(report.get("failures")) == failing, (path, report.attrib)
    cases = report.findall("./testsuite/testcase")
    assert len(cases) == failing + (1 if failing < total else 0), (path, len(cases))
    for xml in glob.glob(f"{out}/shard-*.xml"):
        ET.parse(xml)
    assert statuses[path] == (1 if failing else 0), (path, statuses[path])
    saved = os.listdir(f"{out}/failing-seeds")
    assert len(saved) == failing, (path, saved)
    print(f"{path}: {shards} shard processes merge to the one run's summary and trace hash")
one_report = ET.parse(f"{work}/one.xml").getroot()
assert int(one_report.get("failures")) == failing
print("\n".join(one))
print(f"ok: {total} seeds, {failing} failing, JUnit reports parse")
EOF
}

one_pass plain ""
one_pass canary "--canary replica-appends-twice"
