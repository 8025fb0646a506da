//! The gateway behind the crate's ports: [`GatewayPayments`] implements
//! [`crate::ports::HostedPayments`] for checkout and [`crate::ports::PaymentStatusApi`] for
//! payment-callback, and [`GatewayError`] maps onto the crate's
//! one [`crate::error::Error`].

use std::sync::Arc;

use async_trait::async_trait;

use super::hosted::{
    create_hosted_payment, fetch_payment_state, GatewayEndpoints, HostedPaymentRequest,
    HttpTransport,
};
use super::{stripe, GatewayError, GatewaySecrets, PaymentState, Provider};
use crate::error::{Error, Result};
use crate::model::PaymentReference;
use crate::ports::{Clock, HostedPayments, PaymentRequest, PaymentStatusApi};

impl From<GatewayError> for Error {
    fn from(e: GatewayError) -> Self {
        match e {
            GatewayError::UnknownProvider | GatewayError::NotConfigured(_) => {
                Error::invalid("provider", "unknown or disabled payment provider")
            }
            GatewayError::MissingHeader(_)
            | GatewayError::DuplicateHeader(_)
            | GatewayError::MalformedSignature
            | GatewayError::BadSignature
            | GatewayError::StaleTimestamp => Error::Unauthorized,
            GatewayError::MalformedPayload(what) => {
                Error::Malformed(format!("webhook payload: {what}"))
            }
            GatewayError::UnsupportedCurrency => {
                Error::invalid("currency", "not supported by the gateway")
            }
            GatewayError::InvalidAmount(why) => Error::invalid("amount", why),
            GatewayError::InvalidRequest(why) => Error::invalid("payment", why),
            GatewayError::Transport(_)
            | GatewayError::Rejected { .. }
            | GatewayError::UnexpectedResponse(_) => {
                Error::unavailable(format!("payment gateway: {}", e.code()))
            }
            GatewayError::InvalidSecrets(why) => Error::internal(format!("gateway secrets: {why}")),
        }
    }
}

/// Creates hosted payment pages at the configured gateways, and asks their status APIs.
pub struct GatewayPayments<T> {
    secrets: Arc<GatewaySecrets>,
    endpoints: GatewayEndpoints,
    transport: T,
    clock: Arc<dyn Clock>,
    /// Where the buyer returns after paying / giving up; `{order_id}` is replaced.
    success_url: String,
    cancel_url: String,
}

impl<T> std::fmt::Debug for GatewayPayments<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayPayments")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl<T: HttpTransport + Send + Sync> GatewayPayments<T> {
    pub fn new(
        secrets: Arc<GatewaySecrets>,
        endpoints: GatewayEndpoints,
        transport: T,
        clock: Arc<dyn Clock>,
        success_url: impl Into<String>,
        cancel_url: impl Into<String>,
    ) -> Self {
        GatewayPayments {
            secrets,
            endpoints,
            transport,
            clock,
            success_url: success_url.into(),
            cancel_url: cancel_url.into(),
        }
    }

    /// For the status APIs only (payment-callback): without return URLs, creating a payment is
    /// refused.
    pub fn status_api(
        secrets: Arc<GatewaySecrets>,
        endpoints: GatewayEndpoints,
        transport: T,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::new(secrets, endpoints, transport, clock, "", "")
    }
}

#[async_trait]
impl<T: HttpTransport + Send + Sync> HostedPayments for GatewayPayments<T> {
    async fn create_payment(&self, request: &PaymentRequest) -> Result<PaymentReference> {
        let provider: Provider = request.provider.parse()?;
        let now = self.clock.now();
        let hosted = HostedPaymentRequest {
            order_id: request.order_id.clone(),
            amount: request.amount_minor,
            currency: request.currency.clone(),
            description: request.description.clone(),
            expires_at: request.expires_at,
            success_url: self.success_url.replace("{order_id}", &request.order_id),
            cancel_url: self.cancel_url.replace("{order_id}", &request.order_id),
        };
        let payment = create_hosted_payment(
            &self.transport,
            provider,
            &self.secrets,
            &self.endpoints,
            &hosted,
            now,
        )
        .await?;
        // Stripe keeps a Checkout Session open at least 30 minutes.
        let expires_at = if provider == Provider::Stripe {
            request.expires_at.max(now + stripe::MIN_SESSION_SECS)
        } else {
            request.expires_at
        };
        Ok(PaymentReference {
            provider: provider.as_str().to_owned(),
            reference: payment.reference,
            redirect_url: Some(payment.redirect_url),
            expires_at: Some(expires_at),
        })
    }
}

#[async_trait]
impl<T: HttpTransport + Send + Sync> PaymentStatusApi for GatewayPayments<T> {
    async fn payment_state(
        &self,
        provider: Provider,
        order_id: &str,
        reference: &str,
    ) -> Result<Option<PaymentState>> {
        fetch_payment_state(
            &self.transport,
            provider,
            &self.secrets,
            &self.endpoints,
            order_id,
            reference,
        )
        .await
        .map_err(|e| match e {
            // A request karcis cannot even build is not the gateway's fault.
            GatewayError::InvalidRequest(why) => Error::internal(format!("status API: {why}")),
            other => Error::unavailable(format!("payment gateway status API: {}", other.code())),
        })
    }
}
