# The two commands a newcomer needs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLUGINS := $(sort $(wildcard plugins/ldm-plugin-*))
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test test-slow test-browser browser screenshots lint registry models autoencoder model clean

install: $(STAMP)

# torch/torchvision are pinned in constraints.txt (the one build this project tests with).
$(STAMP): pyproject.toml constraints.txt $(wildcard plugins/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade 'setuptools>=64' wheel
	$(BIN)/pip install -q -c constraints.txt torch torchvision
	$(BIN)/pip install -q -c constraints.txt --no-build-isolation \
		-e '.[test,browser]' $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

demo: install
	$(BIN)/python -m ldmcore.demo

test: install
	$(BIN)/pytest -q -n 2

test-slow: install
	$(BIN)/pytest -q -n 2 -m slow

# The studio's browser test (tests/serve/test_browser.py, part of `make test`) drives Debian's
# chromium through Playwright for Python; Playwright's own browser download is never used.
# Without chromium (no root, no package) that test skips and says why.
CHROMIUM := /usr/bin/chromium
browser: install
	@test -x $(CHROMIUM) || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium >/dev/null) || \
		echo "make browser: could not install chromium; the browser test will skip"
	@test -x $(CHROMIUM) && $(CHROMIUM) --version 2>/dev/null || true

test-browser: browser
	$(BIN)/pytest -q -n 0 tests/serve/test_browser.py

# The README's studio screenshots (docs/serve-*.png), taken by the browser test.
screenshots: browser
	LDM_SCREENSHOTS=1 $(BIN)/pytest -q -n 0 tests/serve/test_browser.py

lint: install
	$(BIN)/ruff check ldmcore plugins tests benchmarks

registry: install
	$(BIN)/ldm registry build

# Reproduce the shipped shapes-world models (registry/models/*.yaml record what was run).
# Measured on 2 CPU cores: decoder fine-tune 22 min; txt2img/layout2img 27 and 41 min side by
# side (one thread each); the five 48-channel models 20-40 min each, two at a time; run 1 of
# the autoencoder was not timed on an idle machine.
# Every step is resumable (`ldm train ... --resume`).
models: autoencoder
	$(MAKE) model CONFIG=layout2img_hybrid NAME=shapes-layout2img TASK=layout2img STEPS=4000 \
		FIRST_STAGE=$(AE) SHARE=1 \
		DESC="$(LATENT); layout as tokens (cross-attention) + box raster (concat)"
	$(MAKE) model CONFIG=txt2img NAME=shapes-txt2img TASK=txt2img STEPS=6000 \
		FIRST_STAGE=$(AE) SHARE=1 \
		DESC="$(LATENT); BERT-tokenised text -> transformer -> cross-attention"
	$(MAKE) model CONFIG=class2img NAME=shapes-class2img TASK=class2img STEPS=3000 SHARE=1 \
		DESC="$(LATENT); one shape, its class as one cross-attention token"
	$(MAKE) model CONFIG=unconditional NAME=shapes-unconditional TASK=unconditional \
		STEPS=4000 SHARE=1 DESC="$(LATENT); no conditioning"
	$(MAKE) model CONFIG=semantic2img NAME=shapes-semantic2img TASK=semantic2img STEPS=4000 \
		SHARE=1 DESC="$(LATENT); segmentation map, space-to-depth to the latent grid (concat)"
	$(MAKE) model CONFIG=superres NAME=shapes-superres TASK=superres STEPS=4000 SHARE=1 \
		DESC="$(LATENT); x4 super-resolution from 8x8, the low-res image concatenated"
	$(MAKE) model $(INPAINT) STEPS=20000 ARGS="$(FROM_UNCONDITIONAL)" SHARE=1 DESC="$(INPAINT_DESC)"
	$(MAKE) model $(INPAINT) STEPS=6000 RUN=shapes-inpainting-cooldown SHARE=1 \
		DESC="$(INPAINT_DESC); cooled down" ARGS="$(INPAINT_COOLDOWN)" \
		BEFORE="make model $(INPAINT) STEPS=20000 ARGS='$(FROM_UNCONDITIONAL)'"
	$(MAKE) model CONFIG=digits_unconditional NAME=digits-unconditional TASK=unconditional \
		STEPS=10000 FIRST_STAGE= \
		DESC="scikit-learn's handwritten digits (real scans) at 16², pixel space (LDM-1), trained on 2 CPU cores"
# inpainting starts from the unconditional UNet, its added input channels at zero (SD's recipe),
# then cools down from that card: its UNet and pixel conv, lr 1e-4 decaying to 0 (cosine)
INPAINT := CONFIG=inpainting NAME=shapes-inpainting TASK=inpainting
INPAINT_DESC = $(LATENT); E(masked image) + its pixels and the mask space-to-depth, \
	concatenated; started from shapes-unconditional
FROM_UNCONDITIONAL := denoiser.checkpoint=registry/models/shapes-unconditional.safetensors \
	denoiser.extend_inputs=true
INPAINT_COOLDOWN := denoiser.checkpoint=registry/models/shapes-inpainting.safetensors \
	conditioners.masked_image.checkpoint=registry/models/shapes-inpainting.safetensors \
	training.lr=1e-4 training.lr_schedule=cosine training.warmup_steps=200
LATENT := shapes world 32², KL-f4 latent (3x8x8), trained on 2 CPU cores
# The KL-f4 first stage: trained whole, then its decoder fine-tuned with the encoder frozen
# (training.freeze), so the latent space -- and any LDM trained on it -- stays that of run 1.
AE_RUN1 := runs/shapes_ae/first_stage/first_stage.safetensors
AE := runs/shapes_ae_ft/first_stage/first_stage.safetensors
AE_TRAIN := ldm train configs/layout2img.yaml --stage first_stage \
	training.output_dir=runs/shapes_ae training.steps=1003 training.batch_size=16 \
	training.lr=5e-4 training.warmup_steps=500 training.checkpoint_every=250 \
	training.sample_every=500 training.log_every=25
AE_TUNE := ldm train configs/layout2img.yaml --stage first_stage \
	first_stage.checkpoint=$(AE_RUN1) 'training.freeze=[encoder,quant_conv]' \
	training.output_dir=runs/shapes_ae_ft training.steps=8000 training.batch_size=16 \
	training.lr=5e-4 training.lr_schedule=cosine training.warmup_steps=100 \
	training.checkpoint_every=500 training.sample_every=2000 training.log_every=50
AE_EVAL := ldm eval $(AE) -n 256 --out runs/shapes_ae_ft/eval.json
autoencoder: install
	$(BIN)/$(AE_TRAIN) --no-progress
	$(BIN)/$(AE_TUNE) --no-progress
	$(BIN)/$(AE_EVAL) --no-progress
	$(BIN)/ldm registry add-model $(AE) --name shapes-kl-f4 --task autoencoder \
		--eval runs/shapes_ae_ft/eval.json --command "$(AE_TRAIN)" --command "$(AE_TUNE)" \
		--command "$(AE_EVAL)" --description "$(AE_ABOUT)"
AE_ABOUT := KL autoencoder f=4 (z 3x8x8 at 32²) on the shapes world, trained on 2 CPU cores; \
	decoder fine-tuned with the encoder frozen
# One diffusion model on the shipped autoencoder: train, evaluate, ship with a card.
# FIRST_STAGE: the autoencoder it trains on (the shipped card's fp16 weights by default; empty
# for a pixel-space model, whose spec's first stage is `identity`);
# SHARE=1 ships the card without a copy of them (it names shapes-kl-f4 and its sha256; an
# existing card that embeds them: `ldm registry share NAME --first-stage shapes-kl-f4`);
# EVAL: `ldm eval` options (default: every evaluator in the config). RUN: its run directory
# under runs/ (default NAME); BEFORE: the command that made the card this run starts from.
FIRST_STAGE ?= registry/models/shapes-kl-f4.safetensors
RUN ?= $(NAME)
AE_COMMAND := make autoencoder  \# shapes-kl-f4, the first stage
EVAL ?=
model:
	$(BIN)/ldm train configs/$(CONFIG).yaml --stage diffusion --no-progress \
		$(if $(FIRST_STAGE),first_stage.checkpoint=$(FIRST_STAGE)) training.steps=$(STEPS) \
		training.output_dir=runs/$(RUN) $(ARGS)
	$(BIN)/ldm eval runs/$(RUN)/diffusion/model.safetensors -n 200 $(EVAL) \
		--no-progress --out runs/$(RUN)/eval.json --grid runs/$(RUN)/eval.png
	$(BIN)/ldm registry add-model runs/$(RUN)/diffusion/model.safetensors --name $(NAME) \
		--task $(TASK) --eval runs/$(RUN)/eval.json --description "$(DESC)" \
		$(if $(SHARE),--first-stage shapes-kl-f4) \
		$(if $(FIRST_STAGE),--command "$(AE_COMMAND)") \
		$(if $(BEFORE),--command "$(BEFORE)") \
		--command "make model CONFIG=$(CONFIG) NAME=$(NAME) TASK=$(TASK) STEPS=$(STEPS)$(if $(FIRST_STAGE),, FIRST_STAGE=)$(if $(filter-out $(NAME),$(RUN)), RUN=$(RUN))$(if $(ARGS), ARGS='$(ARGS)')"
	$(BIN)/ldm plot runs/$(RUN)/diffusion --out registry/models/$(NAME)-loss.png
	cp runs/$(RUN)/eval.png registry/models/$(NAME)-samples.png

clean:
	rm -rf $(VENV) outputs runs .pytest_cache
