"""Billed consultations' own alarm: any consultation alert (a hold that expired before capture, a refused
capture, a declined re-authorization) notifies the alarm topic. The table, timers queue, functions, webhook
routes and reconciliation schedule come from the catalog like every other capability's."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from constructs import Construct

# The functions whose services raise consultation alerts (services/consultation_events.alert).
ALERTING_FUNCTIONS = ("voice_webhook", "stripe_webhook", "consultations_reconciler", "consultation_timers")
ALERT_METRIC = "ConsultationAlerts"


class ConsultationAlarms(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        notify = actions.SnsAction(topic)
        for key in ALERTING_FUNCTIONS:
            alarm = cloudwatch.Alarm(
                self,
                "".join(part.capitalize() for part in key.split("_")),
                alarm_description=f"A consultation needs an operator ({key}): see the _consultation.alert events.",
                # Powertools metrics: namespace Kizuna, dimension service = the function's POWERTOOLS_SERVICE_NAME.
                metric=cloudwatch.Metric(
                    namespace="Kizuna",
                    metric_name=ALERT_METRIC,
                    dimensions_map={"service": f"kizuna-{key}"},
                    period=Duration.minutes(5),
                    statistic=cloudwatch.Stats.SUM,
                ),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(notify)
