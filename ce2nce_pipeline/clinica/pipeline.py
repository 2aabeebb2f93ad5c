"""ce2nce as a Clinica pipeline: ``Ce2nce(bids_directory=..., caps_directory=...).run()``.

This module imports Clinica (the ``clinica`` extra); nothing else in ce2nce does.
"""

from __future__ import annotations

import os
from pathlib import Path

from clinica.dataset import Visit
from clinica.pipelines.engine import Pipeline

from ..bids import BidsFilters, T1wImage, collect_t1w_images, load_bids_filters
from ..console import say
from ..errors import InvalidInputError
from ..image_checks import check_t1w
from .caps import CapsImage, ce2nce_done_marks, check_caps_folder, check_sessions, reusable_crop
from .settings import DEFAULT_PARAMETERS


class Ce2nce(Pipeline):
    """t1-linear, T1w-ce to T1w-nce translation, brain masks and tissues, written to a CAPS.

    Parameters are Clinica's (``bids_directory``, ``caps_directory``, ``tsv_file``,
    ``base_dir``, ``name``, ``caps_name``) and ``parameters`` (keys of
    :data:`DEFAULT_PARAMETERS`; missing keys take their defaults).

    Raises
    ------
    InvalidInputError
        A CAPS folder that is not a CAPS, or a BIDS participant without sessions (one line).
    """

    def __init__(self, bids_directory=None, caps_directory=None, parameters=None, **kwargs):
        if caps_directory is not None:
            check_caps_folder(Path(caps_directory))
        if bids_directory is not None:
            check_sessions(Path(bids_directory))
        kwargs.setdefault("name", "ce2nce")
        super().__init__(
            bids_directory=bids_directory,
            caps_directory=caps_directory,
            parameters={**DEFAULT_PARAMETERS, **(parameters or {})},
            **kwargs,
        )
        self._discovered: dict[Visit, list[T1wImage]] | None = None
        self.rejected: list[str] = []
        self._reset_execution_config()

    def _reset_execution_config(self) -> None:
        """Clinica's command line sets ``stop_on_first_crash`` for every run (nipype's debug
        mode): set it back, so that one bad image never stops the others."""
        self.config["execution"].update(
            {
                "stop_on_first_crash": "false",
                "crashfile_format": "txt",
                "crashdump_dir": str(Path(self.base_dir) / "crashes"),
                "remove_unnecessary_outputs": "false",
            }
        )

    # -- Clinica's abstract interface ------------------------------------------------------
    def get_input_fields(self) -> list[str]:
        """None: each image's branch is built with its file (ce2nce's graphs are static)."""
        return []

    def get_output_fields(self) -> list[str]:
        """None: each branch writes its own outputs to the CAPS."""
        return []

    def _check_custom_dependencies(self) -> None:
        """The brain-mask backend must be installed (HD-BET and deepbet are extras)."""
        from ..science.brain_mask import require_backend

        require_backend(self.parameters["mask_backend"])

    def _check_pipeline_parameters(self) -> None:
        unknown = sorted(set(self.parameters) - set(DEFAULT_PARAMETERS))
        if unknown:
            raise InvalidInputError(
                f"unknown ce2nce parameter(s) {', '.join(unknown)}; "
                f"known: {', '.join(DEFAULT_PARAMETERS)}"
            )
        self._bids_filters()

    def _build_input_node(self) -> None:
        """Find the visits' T1w images, check them and the t1-linear outputs to reuse.

        A corrupt image is left out alone; a corrupt t1-linear output in the CAPS leaves out
        its whole visit (nothing of it is written), each with one line.
        """
        self._items: dict[str, list[CapsImage]] = {}
        for visit in self.visits:
            try:
                crops = {
                    image: reusable_crop(self.caps_directory, image)
                    for image in self._visit_images().get(visit, [])
                }
            except InvalidInputError as error:
                self._reject(f"{visit.subject} {visit.session} left out: {error}")
                continue
            for image, crop in crops.items():
                if crop is None:
                    try:
                        check_t1w(image.path)
                    except InvalidInputError as error:
                        self._reject(str(error))
                        continue
                else:
                    say(f"ce2nce: reusing {crop}")
                self._items.setdefault(image.subject, []).append(CapsImage(image, crop))

    def _build_core_nodes(self) -> None:
        from .graph import init_caps_subject_wf

        settings = self._settings()
        for subject, items in sorted(self._items.items()):
            wf = init_caps_subject_wf(subject=subject, images=items, settings=settings)
            self.add_nodes([wf])

    def _build_output_node(self) -> None:
        """Nothing: the branches write to the CAPS themselves."""

    # -- what is already done ----------------------------------------------------------------
    def get_processed_visits(self) -> list[Visit]:
        """Visits whose every image has its ce2nce outputs in the CAPS (skipped by a new run)."""
        if self.caps_directory is None or not self.caps_directory.is_dir():
            return []
        return sorted(visit for visit in self.visits if self._visit_done(visit))

    def get_processed_images(self, caps_directory=None, subjects=None, sessions=None) -> list[str]:
        """``sub-X_ses-Y`` of each visit done; Clinica lists the others as failed."""
        visits = self.visits
        if subjects:
            visits = [Visit(s, t) for s, t in zip(subjects, sessions, strict=True)]
        images = self._visit_images()
        return [
            f"{v.subject}_{v.session}" for v in visits if v not in images or self._visit_done(v)
        ]

    def failed_visits(self) -> list[str]:
        """``sub-X_ses-Y`` of the visits this run had to do and did not finish."""
        done = set(self.get_processed_images())
        ids = [f"{visit.subject}_{visit.session}" for visit in self.visits]
        return [visit_id for visit_id in ids if visit_id not in done]

    def _visit_done(self, visit: Visit) -> bool:
        images = self._visit_images().get(visit, [])
        translated = self._translates()
        return bool(images) and all(
            mark.is_file()
            for image in images
            for mark in ce2nce_done_marks(self.caps_directory, image, translated)
        )

    def _translates(self) -> bool:
        """Whether T1w-ce images get a synthetic image (a model given, or the shipped one)."""
        from ..models.default import default_model_path

        model = self.parameters["model"]
        return model is not None and (model != "default" or default_model_path() is not None)

    def _bids_filters(self) -> BidsFilters:
        """The checked ``bids_filter_file`` parameter (``{}`` without one); one line if bad."""
        path = self.parameters.get("bids_filter_file")
        return load_bids_filters(Path(path)) if path else {}

    def _visit_images(self) -> dict[Visit, list[T1wImage]]:
        """The T1w images of the pipeline's visits, found once (ce and nce of a session kept)."""
        if self._discovered is None:
            subjects = sorted({s.removeprefix("sub-") for s in self.subjects})
            images = collect_t1w_images(
                self.bids_directory,
                participant_labels=subjects,
                bids_filters=self._bids_filters(),
                filter_source=f"--bids-filter-file {self.parameters.get('bids_filter_file')}",
            )
            wanted = set(self.visits)
            self._discovered = {}
            for image in images:
                visit = Visit(f"sub-{image.subject}", f"ses-{image.session}")
                if visit in wanted:
                    self._discovered.setdefault(visit, []).append(image)
        return self._discovered

    def _reject(self, line: str) -> None:
        self.rejected.append(line)
        say(f"ce2nce: rejected: {line}")

    def _settings(self):
        """Model, backends and device checked once, as ``ce2nce ... participant`` does."""
        from ..derivatives import software_versions
        from ..workflows.base import SubjectSettings
        from ..workflows.prepare import prepare_run
        from .graph import caps_layout
        from .settings import run_config

        config = run_config(self.bids_directory, self.caps_directory, self.parameters)
        n_ce = sum(
            item.image.is_contrast_enhanced for items in self._items.values() for item in items
        )
        return SubjectSettings.from_config(
            config,
            layout=caps_layout(self.caps_directory),
            software_versions=software_versions(),
            prepared=prepare_run(config, n_ce),
        )

    def run(self, plugin=None, plugin_args=None, update_hash=False, bypass_check=False):
        """Run as Clinica does, with MultiProc workers started by a fork server.

        A worker forked from a process that already runs torch threads can deadlock in the
        translation; ``ce2nce ... participant`` starts its workers the same way.
        """
        from ..workers import prepare_forkserver

        plugin_args = dict(plugin_args or {})
        if plugin in (None, "MultiProc"):
            plugin_args.setdefault("mp_context", "forkserver")
            if plugin_args["mp_context"] == "forkserver":
                prepare_forkserver()
        return super().run(plugin, plugin_args or None, update_hash, bypass_check)

    # -- no terminal prompts -------------------------------------------------------------------
    def _handle_cross_sectional_dataset(self) -> None:
        """Sessions were checked at construction: nothing to convert, nothing to ask."""

    def _update_parallelize_info(self, plugin_args: dict | None) -> dict:
        """Clinica asks how many processes to use when none is given: use the CPUs minus one,
        at most the CPUs, without asking."""
        cpus = os.cpu_count() or 1
        requested = (plugin_args or {}).get("n_procs") or max(cpus - 1, 1)
        return {**(plugin_args or {}), "n_procs": min(int(requested), cpus)}
