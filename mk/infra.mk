# infra/: the AWS stack as code (SAM), validated offline; deploy documented in infra/README.md.
#
#   make infra-tools   install the validators (one venv each under $(CACHE_DIR)/infra-venvs)
#   make test-infra    expand SAM -> cfn-lint -> checkov -> sam validate --lint -> unit and
#                      negative tests (all offline, no AWS credentials)
#   make lambda-build  cargo lambda build --release --arm64 of the functions (slow; not in CI)
#   make deploy        sam build + sam deploy + wrangler deploy (needs real accounts; not in CI)
.PHONY: infra-tools test-infra lambda-build deploy

INFRA_VENVS := $(CACHE_DIR)/infra-venvs
INFRA_BUILD := infra/.build
INFRA_REGION ?= ap-southeast-3
INFRA_TOOLS := sam-translator cfn-lint checkov sam-cli
INFRA_PY := $(INFRA_VENVS)/sam-translator/bin/python

# The validators run with a region, no credentials and no telemetry.
INFRA_ENV := env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
	AWS_REGION=$(INFRA_REGION) AWS_DEFAULT_REGION=$(INFRA_REGION) \
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
	SAM_CLI_TELEMETRY=0 BC_SKIP_MAPPING=TRUE \
	KARCIS_INFRA_BUILD=$(CURDIR)/$(INFRA_BUILD) \
	KARCIS_TRANSLATOR_PY=$(INFRA_PY) \
	KARCIS_CFN_LINT=$(INFRA_VENVS)/cfn-lint/bin/cfn-lint \
	KARCIS_CHECKOV=$(INFRA_VENVS)/checkov/bin/checkov \
	KARCIS_SAM=$(INFRA_VENVS)/sam-cli/bin/sam

infra-tools: ## install the infra validators (cached venvs; a no-op when installed)
	@infra/scripts/install-tools.sh $(INFRA_VENVS) $(INFRA_TOOLS)

test-infra: infra-tools ## validate infra/template.yaml offline: SAM expand, cfn-lint, checkov, sam validate, tests
	@t0=$$(date +%s); \
	echo "infra: expand SAM transform"; \
	$(INFRA_ENV) $(INFRA_PY) infra/scripts/expand.py infra/template.yaml $(INFRA_BUILD)/template.json; \
	echo "infra: cfn-lint (expanded template)"; \
	$(INFRA_ENV) $(INFRA_VENVS)/cfn-lint/bin/cfn-lint -- $(INFRA_BUILD)/template.json; \
	echo "infra: checkov (SAM template and expanded template)"; \
	$(INFRA_ENV) $(INFRA_VENVS)/checkov/bin/checkov --skip-download --quiet --compact \
		--framework cloudformation -f infra/template.yaml -f $(INFRA_BUILD)/template.json; \
	echo "infra: sam validate --lint"; \
	$(INFRA_ENV) $(INFRA_VENVS)/sam-cli/bin/sam validate --lint --template infra/template.yaml --region $(INFRA_REGION); \
	echo "infra: template and negative tests"; \
	$(INFRA_ENV) $(INFRA_PY) -m unittest discover -v -s infra/tests -p 'test_*.py'; \
	echo "infra: all checks passed in $$(( $$(date +%s) - t0 )) s"

# --- not part of `make test`: need cargo-lambda and zig (PyPI), or real accounts ---------------

LAMBDA_VENV := $(CACHE_DIR)/cargo-lambda
LAMBDA_TARGET_DIR ?= $(CURDIR)/target/lambda-build

$(LAMBDA_VENV)/.karcis-stamp:
	rm -rf $(LAMBDA_VENV)
	python3 -m venv $(LAMBDA_VENV)
	$(LAMBDA_VENV)/bin/pip install --quiet --disable-pip-version-check cargo-lambda==1.9.2 ziglang==0.17.1
	touch $@

lambda-build: toolchain $(LAMBDA_VENV)/.karcis-stamp ## cargo lambda build --release --arm64 of every function binary
	@rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
	cd functions && PATH="$(LAMBDA_VENV)/bin:$$PATH" CARGO_TARGET_DIR=$(LAMBDA_TARGET_DIR) \
		cargo lambda build --release --arm64 --locked
	@ls -l $(LAMBDA_TARGET_DIR)/lambda/*/bootstrap

# Deploy: needs AWS and Cloudflare credentials in the environment. Every parameter without a
# default must be given, e.g.
#   make deploy STACK=karcis-prod REGION=ap-southeast-3 \
#     PARAMS='JwtIssuer=https://... JwtAudience=abc BuyerOrigin=https://tickets.example.com ScannerOrigin=https://scan.example.com WebCertificateArn=arn:aws:acm:us-east-1:... AuditIngestTokenSha256=<hex>'
STACK ?= karcis
REGION ?= $(INFRA_REGION)
PARAMS ?=
deploy: $(LAMBDA_VENV)/.karcis-stamp build-edge ## sam build + sam deploy of infra/, then wrangler deploy of the worker (real accounts)
	@test -n "$(PARAMS)" || { echo "deploy: set PARAMS='JwtIssuer=... JwtAudience=... BuyerOrigin=... ScannerOrigin=... WebCertificateArn=... AuditIngestTokenSha256=...' (see infra/README.md)"; exit 2; }
	PATH="$(LAMBDA_VENV)/bin:$(INFRA_VENVS)/sam-cli/bin:$$PATH" SAM_CLI_BETA_RUST_CARGO_LAMBDA=1 \
		sam build --template infra/template.yaml --build-dir $(INFRA_BUILD)/sam --beta-features
	PATH="$(INFRA_VENVS)/sam-cli/bin:$$PATH" sam deploy --template-file $(INFRA_BUILD)/sam/template.yaml \
		--stack-name $(STACK) --region $(REGION) --resolve-s3 \
		--capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
		--parameter-overrides $(PARAMS)
	cd edge-worker && WRANGLER_SEND_METRICS=false node_modules/.bin/wrangler deploy # build-edge (mk/edge.mk) built it

TEST_STEPS += test-infra
SETUP_STEPS += infra-tools
