//! `kind: slack`: a Slack incoming webhook. The webhook URL is the secret.

pub type SlackSettings = super::WebhookUrlOnly<false>;
