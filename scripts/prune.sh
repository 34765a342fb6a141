# Sourced by the test scripts. prune PROFILE...: when EMBEDREC_PRUNE_BUILDS=1 (set by
# .ci/run), deletes those cargo builds once nothing later needs them, so that the disk holds
# one build at a time.
prune() {
  [ "${EMBEDREC_PRUNE_BUILDS:-0}" = 1 ] || return 0
  for profile in "$@"; do rm -rf target/*/"$profile" "target/$profile"; done
  echo "(pruned $*: $(du -sh target 2>/dev/null | cut -f1) left in target/)"
}
