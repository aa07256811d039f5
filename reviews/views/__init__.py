from reviews.views.audit_log import audit_log, audit_log_csv  # noqa: F401
from reviews.views.audits import (  # noqa: F401
    audit_adjudicate_view,
    audit_close_view,
    audit_detail,
    audit_list,
    audit_plan,
    gold_set_view,
    noise_floor_view,
)
from reviews.views.dashboard import (  # noqa: F401
    alert_acknowledge_view,
    alert_settings,
    alerts_acknowledge_view,
    alerts_snooze_view,
    dashboard,
    dashboard_figure,
    quality_recompute,
)
from reviews.views.eval_set import eval_set_view  # noqa: F401
from reviews.views.exports import (  # noqa: F401
    downstream_result_add,
    export_check_view,
    export_detail,
    export_download,
    export_list,
    export_manifest,
)
from reviews.views.jobs import similarity_refit_view, similarity_rerun, similarity_status  # noqa: F401
from reviews.views.policy import policy_settings  # noqa: F401
from reviews.views.project import project_detail  # noqa: F401
from reviews.views.queue import review_queue, verdict_save, verdict_undo_last  # noqa: F401
from reviews.views.samples import sample_detail, sample_list, samples_bulk  # noqa: F401
from reviews.views.search import similarity_search, similarity_search_results  # noqa: F401
from reviews.views.similarity import (  # noqa: F401
    group_not_duplicates,
    group_resolve,
    group_split,
    similarity_view,
)
from reviews.views.similarity_map import map_point  # noqa: F401
from reviews.views.similarity_settings import similarity_settings  # noqa: F401
from reviews.views.variants import variant_family_trim_view  # noqa: F401
