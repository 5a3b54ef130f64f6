"""What the audit codes of ``mobility`` mean (see ``kukkaro.core.audit_words``)."""

from django.utils.translation import gettext_lazy as _

from kukkaro.core.audit_words import AuditWords

ACTIONS = {
    "tariff.load": AuditWords(_("loaded a taxi tariff")),
    "transport_entitlement.create": AuditWords(
        _("granted a transport entitlement"), for_subject=_("granted you a transport entitlement")
    ),
    "transport_entitlement.follow_replacement": AuditWords(
        _("moved a transport entitlement to the decision that replaced its own"),
        for_subject=_("moved your transport entitlement to your new decision"),
    ),
    "transport_entitlement.end": AuditWords(
        _("ended a transport entitlement"), for_subject=_("ended your transport entitlement")
    ),
    "transport_card.issue": AuditWords(_("issued a transport card"), for_subject=_("issued you a transport card")),
    "trips.import": AuditWords(_("imported a trip file")),
    "trips.leg_resolve": AuditWords(_("decided on a trip held for review")),
    "trip.read": AuditWords(_("viewed a client's transport trips"), for_subject=_("viewed your transport trips")),
    "trips.authorize": AuditWords(_("checked a trip booking against the purse")),
    "trips.authorization_cancel": AuditWords(_("cancelled a trip authorisation")),
    "trips.authorization_expire": AuditWords(_("let a trip authorisation expire")),
    "trips.authorization_settle": AuditWords(_("settled a trip authorisation with the trip file")),
    "leasing.create": AuditWords(
        _("made a leasing car contract"), for_subject=_("made a leasing car contract for you")
    ),
    "leasing.odometer": AuditWords(_("recorded a leasing car's odometer reading")),
    "transport.comparison_export": AuditWords(_("exported the transport cost comparison")),
}
