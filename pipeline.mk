# pipeline.mk: the vggtap workflow as make targets (docs/WORKFLOW.md).
#
#   make -f pipeline.mk CONFIG=configs/NAME.ini [TARGET]
#
#   extract   the feature store WORK/store.h5 (and WORK/eval.h5 from [evaluate])
#   train     one head per extracted tap: WORK/<tap>/head.h5, head.report/, train.txt
#             (its report printed, unless `report` is a goal too and prints it)
#   evaluate  each head's predictions on the evaluation store (the training store
#             if there is none): WORK/<tap>/predictions.csv
#   report    (default) prints every head's report and the comparison table,
#             also written to WORK/report.csv and WORK/report.html
#   predict   IMAGES="a.jpg dir/" [TAP=layer]: top classes from that tap's head
#             (default: the last tap)
#   sweep     trains the [sweep] grid (taps x pools x heads [x augment]) on the cached store,
#             one progress line per head; prints the table ranked by [sweep]
#             metric on the validation rows, the best marked, also written to
#             WORK/sweep.csv and WORK/sweep.html (default grid: each tap and
#             all together x GAP, GMP, the grid poolings and the pyramid x
#             softmax)
#   clean     removes WORK
#
# SHARDS=N (default 1) extracts the training store as N shards,
# WORK/shards/store-I-of-N.h5, each a vggtap-extract --shard I/N with
# SHARD_THREADS threads (default 1), run in parallel under make -jN, then
# joins them into WORK/store.h5 with vggtap-merge (docs/SCALING.md).
#
# Run it from the repository root (or give BIN=path/to/bin); WORK is the
# config's `work` key, default runs/<config name>. Make decides on
# content, not on the config file's time stamp: extraction re-runs only when
# the [extract] settings, the image list (names, sizes, times) or the weights
# change; training only when the store or the [train] settings change. Safe
# under make -j. The config, WORK, BIN and the weights file must not have
# spaces in their paths (make's limit; refused at once); image folders and
# manifests may.

BIN ?= bin
VT_CONFIG := $(BIN)/vggtap-config
EXTRACT := $(BIN)/vggtap-extract
TRAIN := $(BIN)/vggtap-train
PREDICT := $(BIN)/vggtap-predict
INFO := $(BIN)/vggtap-info
MERGE := $(BIN)/vggtap-merge
SHARDS ?= 1
SHARD_THREADS ?= 1
ifneq ($(shell [ "$(SHARDS)" -ge 1 ] 2>/dev/null && echo ok),ok)
$(error SHARDS=$(SHARDS): give a whole number of shards, 1 or more)
endif

ifeq ($(CONFIG),)
$(error give a config: make -f pipeline.mk CONFIG=configs/NAME.ini [extract|train|evaluate|report|predict|sweep|clean])
endif
# make splits words at spaces, so a path holding one cannot be a target or a
# prerequisite: refuse it by name rather than fail on its pieces.
# $(1) what it is, $(2) the path
no_space = $(if $(filter-out 0 1,$(words $(2))),$(error $(1) '$(2)' contains a space: make cannot handle such a path; use one without spaces (a symbolic link will do)))
$(call no_space,CONFIG,$(CONFIG))
$(call no_space,BIN,$(BIN))
ifeq ($(wildcard $(VT_CONFIG)),)
$(error $(VT_CONFIG) is missing: build vggtap first (make))
endif
# Every section, the programs' too, keys and values, before any work: a
# typo in [train] must not surface only after the extraction.
CONFIG_ERROR := $(shell $(VT_CONFIG) check $(CONFIG) 2>&1 >/dev/null)
ifneq ($(CONFIG_ERROR),)
$(error $(CONFIG_ERROR))
endif

comma := ,
get = $(shell $(VT_CONFIG) get $(CONFIG) $(1) $(2) '$(3)')
NAME := $(basename $(notdir $(CONFIG)))
WORK := $(call get,vggtap,work,runs/$(NAME))
$(call no_space,$(CONFIG): [vggtap] work,$(WORK))
TAPS := $(subst $(comma), ,$(call get,extract,tap,block1_pool))
TAP ?= $(lastword $(TAPS))
WEIGHTS := $(shell $(VT_CONFIG) weights $(CONFIG) 2>/dev/null)
$(call no_space,the weights file,$(WEIGHTS))
# [evaluate] data or manifest, as flags for the evaluation store's
# extraction, each single-quoted for the shell (a folder may hold spaces)
EVAL_FLAGS := $(shell $(VT_CONFIG) settings $(CONFIG) evaluate | sed "s/'/'\\\\''/g; s/^/'--/; s/\$$/'/")
EVAL_STORE := $(if $(EVAL_FLAGS),$(WORK)/eval.h5)
SCORED_STORE := $(or $(EVAL_STORE),$(WORK)/store.h5)

HEADS := $(TAPS:%=$(WORK)/%/head.h5)
PREDICTIONS := $(TAPS:%=$(WORK)/%/predictions.csv)

.PHONY: all extract train evaluate report predict sweep clean FORCE
.DELETE_ON_ERROR:
all: report

extract: $(WORK)/store.h5 $(EVAL_STORE)
train: $(HEADS)

# ---- what make decides on: rewritten every run, but only touched when changed

$(WORK)/:
	@mkdir -p $@

$(WORK)/extract.settings: FORCE | $(WORK)/
	@$(VT_CONFIG) settings $(CONFIG) extract --set resolved-weights=$(WEIGHTS) --out $@
$(WORK)/train.settings: FORCE | $(WORK)/
	@$(VT_CONFIG) settings $(CONFIG) train --out $@
$(WORK)/predict.settings: FORCE | $(WORK)/
	@$(VT_CONFIG) settings $(CONFIG) predict --out $@
$(WORK)/images.list: FORCE | $(WORK)/
	@$(VT_CONFIG) images $(CONFIG) extract --out $@
$(WORK)/eval-images.list: FORCE | $(WORK)/
	@$(VT_CONFIG) images $(CONFIG) evaluate --out $@

# ---- extraction

# $(1) store, $(2) image list, $(3) flags for its images. A partial store
# (an interrupted run) is resumed only if it was started with the same
# settings and images; otherwise it is replaced.
define extract_store
@test -n "$(WEIGHTS)" || { $(VT_CONFIG) weights $(CONFIG); exit 1; }
@cat $(WORK)/extract.settings $(2) > $(1).key.new && rm -f $(1)
@ow=--overwrite; \
 if [ -d $(1).partial ] && cmp -s $(1).key.new $(1).key; then ow=; echo "resuming $(1)"; fi; \
 mv $(1).key.new $(1).key; \
 echo "$(EXTRACT) --config $(CONFIG) --weights $(WEIGHTS) --out $(1) $(3) $$ow"; \
 $(EXTRACT) --config $(CONFIG) --weights $(WEIGHTS) --out $(1) $(3) $$ow
endef

ifeq ($(SHARDS),1)
$(WORK)/store.h5: $(WORK)/extract.settings $(WORK)/images.list $(WEIGHTS)
	$(call extract_store,$@,$(WORK)/images.list,)
else
SHARD_STORES := $(foreach i,$(shell seq 0 $$(($(SHARDS) - 1))),$(WORK)/shards/store-$(i)-of-$(SHARDS).h5)
$(WORK)/shards/:
	@mkdir -p $@
$(WORK)/shards/store-%-of-$(SHARDS).h5: $(WORK)/extract.settings $(WORK)/images.list $(WEIGHTS) | $(WORK)/shards/
	$(call extract_store,$@,$(WORK)/images.list,--shard $*/$(SHARDS) --threads $(SHARD_THREADS))

# Virtual datasets: store.h5 reads the features from the shard files beside it.
$(WORK)/store.h5: $(SHARD_STORES)
	$(MERGE) --overwrite --out $@ $^
endif

$(WORK)/eval.h5: $(WORK)/extract.settings $(WORK)/eval-images.list $(WEIGHTS)
	$(call extract_store,$@,$(WORK)/eval-images.list,$(EVAL_FLAGS))

# ---- training: WORK/<tap>/head.h5, its report (head.report/, head.log.csv)
# and the printed summary (train.txt, shown by `report`)

# $(1) head, $(2) flags for vggtap-train, $(3) @ to leave the command unsaid
define train_head
@mkdir -p $(dir $(1))
$(3)$(TRAIN) --config $(CONFIG) --store $(WORK)/store.h5 $(if $(EVAL_STORE),--eval $(EVAL_STORE)) \
  --out $(1) --quiet $(2) > $(dir $(1))train.txt.tmp || { cat $(dir $(1))train.txt.tmp; exit 1; }
@mv $(dir $(1))train.txt.tmp $(dir $(1))train.txt
endef

# A head's report is printed once it is trained, unless `report` (the
# default goal) is to print every head's report at the end anyway.
REPORT_GOAL := $(filter report,$(or $(MAKECMDGOALS),report))
$(HEADS): $(WORK)/%/head.h5: $(WORK)/store.h5 $(EVAL_STORE) $(WORK)/train.settings
	$(call train_head,$@,--tap $*)
	$(if $(REPORT_GOAL),,@cat $(@D)/train.txt)

# ---- evaluation: per-image predictions on the evaluation store

$(PREDICTIONS): $(WORK)/%/predictions.csv: $(WORK)/%/head.h5 $(SCORED_STORE) $(WORK)/predict.settings
	$(PREDICT) --config $(CONFIG) --head $< --store $(SCORED_STORE) --format csv --out $@

evaluate: $(PREDICTIONS)
	@for t in $(TAPS); do echo "$$t: predictions for $$(($$(wc -l < $(WORK)/$$t/predictions.csv) - 1)) rows of $(SCORED_STORE) in $(WORK)/$$t/predictions.csv"; done

report: $(HEADS)
	@for t in $(TAPS); do echo; echo "==== $$t ($(WORK)/$$t/train.txt)"; cat $(WORK)/$$t/train.txt; done
	@echo
	@$(INFO) --table --csv $(WORK)/report.csv --html $(WORK)/report.html $(HEADS)
	@echo "(table also in $(WORK)/report.csv; page: $(WORK)/report.html)"

# The weights the store was extracted with (the head refuses any others),
# even when the config names them only under [extract].
predict: $(WORK)/$(TAP)/head.h5
	@test -n "$(WEIGHTS)" || { $(VT_CONFIG) weights $(CONFIG); exit 1; }
	$(PREDICT) --config $(CONFIG) --weights $(WEIGHTS) --head $< $(IMAGES)

# ---- sweep: [sweep] taps x pools x heads, each head trained once per
# store and [train] settings. A tap entry may join taps with ',' (their
# features concatenated), a pool entry poolings (avg1,avg2,avg4). Folder
# names use '+' for ',' (block1_pool+block2_pool, avg1+avg2+avg4) and '-'
# in head widths (256,128 -> 256-128).
#
# Defaults: every extracted tap alone and all of them together; for every
# stored grid G the average and the max over GxG cells, and the pyramid of
# averages over all the grids (with grids 1,2,4: avg1 max1 avg2 max2 avg4
# max4 avg1,avg2,avg4); softmax.

empty :=
space := $(empty) $(empty)
GRIDS := $(subst $(comma), ,$(call get,extract,grids,1$(comma)2$(comma)4))
DEFAULT_SWEEP_TAPS := $(TAPS) $(if $(word 2,$(TAPS)),$(subst $(space),$(comma),$(strip $(TAPS))))
DEFAULT_SWEEP_POOLS := $(foreach g,$(GRIDS),avg$(g) max$(g)) \
  $(if $(word 2,$(GRIDS)),$(subst $(space),$(comma),$(strip $(addprefix avg,$(GRIDS)))))
SWEEP_TAPS := $(subst $(comma),+,$(call get,sweep,taps,$(DEFAULT_SWEEP_TAPS)))
SWEEP_POOLS := $(subst $(comma),+,$(call get,sweep,pools,$(DEFAULT_SWEEP_POOLS)))
SWEEP_HEADS := $(subst $(comma),-,$(filter-out conv conv:%,$(call get,sweep,heads,softmax)))
# [sweep] augment (e.g. `none flip`): a fourth dimension, each head one
# folder deeper (.../softmax/flip/head.h5); unset: [train]'s setting, no
# such folder. `_` stands for "unset" in the loops.
SWEEP_AUGMENTS := $(or $(call get,sweep,augment,),_)
sweep_head = $(WORK)/sweep/$(1)/$(2)/$(3)$(if $(filter-out _,$(4)),/$(4))/head.h5
# Conv heads (heads `conv`, or `conv:WIDTHS` as --conv takes them) train on
# a tap's maps, whatever the pools: one per single tap, in
# sweep/<tap>/maps/conv[_WIDTHS]/ (':' -> '_', ',' -> '-' in the name).
SWEEP_CONVS := $(subst :,_,$(subst $(comma),-,$(filter conv conv:%,$(call get,sweep,heads,softmax))))
SWEEP_CONV_TAPS := $(foreach t,$(SWEEP_TAPS),$(if $(findstring +,$(t)),,$(t)))
conv_flag = --head conv $(if $(TRAIN_HIDDEN),--hidden=) $(if $(filter conv_%,$(1)),--conv $(subst _,:,$(subst -,$(comma),$(patsubst conv_%,%,$(1)))))
# softmax passes no --hidden (vggtap-train's defaults differ for an empty
# one) unless [train] sets hidden layers that it must undo.
TRAIN_HIDDEN := $(call get,train,hidden,)
hidden_flag = $(if $(filter softmax,$(1)),$(if $(TRAIN_HIDDEN),--hidden=),--hidden=$(subst -,$(comma),$(1)))
SWEEP := $(foreach t,$(SWEEP_TAPS),$(foreach p,$(SWEEP_POOLS),$(foreach h,$(SWEEP_HEADS),$(foreach a,$(SWEEP_AUGMENTS),$(call sweep_head,$(t),$(p),$(h),$(a)))))) \
  $(foreach t,$(SWEEP_CONV_TAPS),$(foreach h,$(SWEEP_CONVS),$(foreach a,$(SWEEP_AUGMENTS),$(call sweep_head,$(t),maps,$(h),$(a)))))

# The ranking metric (vggtap-info --sort): heads are ranked on the
# validation rows, their scores shown on rows that chose nothing.
SWEEP_METRIC := $(call get,sweep,metric,accuracy)

# One progress line per head once it is trained, [i/N] and a short name
# (b2/max4/softmax), in one write so that make -j keeps lines whole.
# '+' becomes ',' only when the recipe runs (a ',' would split make's arguments)
# $(1) tap, $(2) pool, $(3) head, $(4) augment (or _), $(5) its place in the grid
define sweep_rule
$(call sweep_head,$(1),$(2),$(3),$(4)): $(WORK)/store.h5 $(EVAL_STORE) $(WORK)/train.settings
	$$(call train_head,$$@,--tap $$(subst +,$$(comma),$(1)) $$(if $$(filter maps,$(2)),$$(call conv_flag,$(3)),--pool $$(subst +,$$(comma),$(2)) $$(call hidden_flag,$(3))) $(if $(filter-out _,$(4)),--augment $(4)),@)
	@echo "$$$$(printf '%7s %-28s' '[$(5)/$(words $(SWEEP))]' '$(subst _pool,,$(subst block,b,$(1)))/$(2)/$(3)$(if $(filter-out _,$(4)),/$(4))') $$$$($(INFO) --table --brief $$@)"
endef
sweep_place :=
$(foreach t,$(SWEEP_TAPS),$(foreach p,$(SWEEP_POOLS),$(foreach h,$(SWEEP_HEADS),$(foreach a,$(SWEEP_AUGMENTS),$(eval sweep_place += x)$(eval $(call sweep_rule,$(t),$(p),$(h),$(a),$(words $(sweep_place))))))))
$(foreach t,$(SWEEP_CONV_TAPS),$(foreach h,$(SWEEP_CONVS),$(foreach a,$(SWEEP_AUGMENTS),$(eval sweep_place += x)$(eval $(call sweep_rule,$(t),maps,$(h),$(a),$(words $(sweep_place)))))))

sweep: $(SWEEP)
	@echo
	@$(INFO) --table --sort $(SWEEP_METRIC) --relative-to $(WORK)/sweep --csv $(WORK)/sweep.csv --html $(WORK)/sweep.html $(SWEEP)
	@echo "(table also in $(WORK)/sweep.csv; page with links to each head's report: $(WORK)/sweep.html)"

clean:
	@test -n "$(WORK)" && test "$(WORK)" != / && test "$(WORK)" != .
	rm -rf $(WORK)
