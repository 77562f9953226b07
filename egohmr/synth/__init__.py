"""Synthetic EgoBody: procedural rooms, an open-body interactee and a head-mounted camera wearer, written in the
official EgoBody on-disk layout (`egohmr.data.egobody_format`). Entry point: `egohmr.synth.generate.generate_dataset`;
validation: `egohmr.synth.checks.check_dataset`. Modules import nothing heavy at package import."""
