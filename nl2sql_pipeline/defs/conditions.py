"""The automation condition of the pipeline's assets.

Automation conditions are evaluated by Dagster's `default_automation_condition_sensor`, which
starts STOPPED: turn it on in the UI (Automation tab) or with
`dagster sensor start default_automation_condition_sensor` for assets to follow their inputs.
"""

import dagster as dg

A = dg.AutomationCondition
# Recompute when missing, when the asset's own code version changed, or when an upstream's
# *data version* changed (not merely because it was re-materialized with the same content):
# cheap steps follow their inputs, and expensive ones never re-run for a cosmetic change.
ON_CONTENT_CHANGE = (
    (
        A.newly_missing()
        | A.code_version_changed()
        # a run that materialized both the upstream and this asset left nothing to do
        | A.any_deps_match(A.data_version_changed() & ~A.executed_with_root_target())
    ).since_last_handled()
    & ~A.any_deps_missing()
    & ~A.any_deps_in_progress()
    & ~A.in_progress()
).with_label("missing, new code version, or upstream content changed")
