"""E-mail through SES: the configuration set Kizuna's e-mails use, its events on EventBridge, and the function that
turns them into delivery records and stream events. Sending identities (domains, addresses) are the operator's to
verify in SES; the EMAIL channel names which one an app sends from."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ses as ses
from constructs import Construct

from infra.dead_letters import dead_letter_queue

# Every SES event that settles an e-mail or records engagement (see kizuna.services.email_events).
EVENT_TYPES = [
    ses.EmailSendingEvent.SEND,
    ses.EmailSendingEvent.DELIVERY,
    ses.EmailSendingEvent.BOUNCE,
    ses.EmailSendingEvent.COMPLAINT,
    ses.EmailSendingEvent.REJECT,
    ses.EmailSendingEvent.RENDERING_FAILURE,
    ses.EmailSendingEvent.OPEN,
    ses.EmailSendingEvent.CLICK,
]


class Email(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.configuration_set = ses.ConfigurationSet(self, "ConfigurationSet")
        bus = events.EventBus.from_event_bus_name(self, "DefaultBus", "default")
        self.configuration_set.add_event_destination(
            "ToEventBridge", destination=ses.EventDestination.event_bus(bus), events=EVENT_TYPES
        )
        self._key = key
        stack = Stack.of(self)
        self.identity_arn = stack.format_arn(service="ses", resource="identity", resource_name="*")
        self.configuration_set_arn = stack.format_arn(
            service="ses", resource="configuration-set", resource_name=self.configuration_set.configuration_set_name
        )

    def grant_send(self, grantee: iam.IGrantable) -> object:
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["ses:SendEmail"],
            resource_arns=[self.identity_arn, self.configuration_set_arn],
        )

    def route_events_to(self, function: lambda_.IFunction) -> events.Rule:
        rule = events.Rule(
            self,
            "Events",
            description="kizuna: SES events of Kizuna's e-mails to the email_events function",
            event_pattern=events.EventPattern(source=["aws.ses"]),
        )
        self.dead_letter_queue = dead_letter_queue(self, self._key, "SES events")
        rule.add_target(targets.LambdaFunction(function, dead_letter_queue=self.dead_letter_queue, retry_attempts=8))
        return rule
