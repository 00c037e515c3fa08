"""Blueprints, one per audience: auth, portal (applicants), review (reviewers), cases (the shared
case page), admin, api."""
from __future__ import annotations

from flask import Flask

from .. import i18n
from ..auth import current_user
from . import api, auth


def register_blueprints(app: Flask) -> None:
    from . import admin, cases, portal, review

    app.register_blueprint(auth.bp)
    app.register_blueprint(portal.bp)
    app.register_blueprint(review.bp)
    app.register_blueprint(cases.bp)
    app.register_blueprint(admin.bp)
    from . import checks; app.register_blueprint(checks.bp)  # noqa: E702 (one line: several helpers add blueprints here)
    from . import public; app.register_blueprint(public.bp)  # noqa: E702 (one line: several helpers add blueprints here)
    from . import deficiency; app.register_blueprint(deficiency.bp)  # noqa: E702 (one line: several helpers add blueprints here)
    from . import objections; app.register_blueprint(objections.bp)  # noqa: E702 (one line: several helpers add blueprints here)
    from . import mediation; app.register_blueprint(mediation.bp)  # noqa: E702 (one line: several helpers add blueprints here)
    from . import training; training.register(app)  # noqa: E702 (one line: pages and its /api/v1/training twin)
    from . import inspection; app.register_blueprint(inspection.bp)  # noqa: E702 (before api.bp: adds an operation to it)
    from . import public_subjects; app.register_blueprint(public_subjects.bp)  # noqa: E702 (one line: several helpers add blueprints here)
    from . import information_access, information_api; app.register_blueprint(information_access.bp)  # noqa: E702,F401 (before api.bp: information_api adds operations to it)
    from . import reports; app.register_blueprint(reports.bp)  # noqa: E702 (before api.bp: adds operations to it)
    from . import catalogue; app.register_blueprint(catalogue.bp)  # noqa: E702 (before api.bp: adds operations to it)
    app.register_blueprint(api.bp)
    from .. import csrf

    csrf.exempt(api.bp)  # the API authenticates with bearer tokens, not cookies

    @app.context_processor
    def inject():
        return {"t": i18n.t, "pick": i18n.pick, "bilingual": i18n.bilingual, "lang": i18n.current_lang(),
                "current_user": current_user()}
