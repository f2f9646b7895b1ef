// SPDX-License-Identifier: GPL-2.0-or-later
/* atomfs layer: write one squashfs layer file (debugging, benchmarks) */
#include <getopt.h>

#include "cmd.h"
#include "libatomfs.h"
#include "progress.h"

static const char usage[] =
	"usage: atomfs layer [OPTIONS] INPUT OUTPUT\n"
	"Write the squashfs layer atomfs would make from INPUT (a directory or a tar\n"
	"archive) to the file OUTPUT, outside any image.\n\n" LAYER_USAGE
	"  --whiteouts         convert OCI whiteouts in a tar INPUT to overlay style\n"
	"  -q, --quiet         no progress or warnings\n";

int cmd_layer(int argc, char **argv)
{
	static const struct option longopts[] = {
		LAYER_LONGOPTS,
		{ "whiteouts", no_argument, NULL, 'W' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct layer_opts lo;
	int opt, err;

	if (cmd_help(argc, argv, usage))
		return EXIT_OK;
	layer_opts_init(&lo);
	while ((opt = getopt_long(argc, argv, "q", longopts, NULL)) != -1) {
		int r = layer_opt(&lo, opt, optarg);

		if (r < 0)
			return EXIT_USAGE;
		if (r)
			continue;
		switch (opt) {
		case 'W':
			lo.in.whiteouts = true;
			break;
		case 'q':
			atomfs_quiet = 1;
			break;
		default:
			return cmd_usage("layer", usage);
		}
	}
	if (argc - optind != 2)
		return cmd_usage("layer", usage);
	if (layer_opts_check(&lo) < 0)
		return EXIT_USAGE;
	lo.sq.progress = atomfs_progress_new("layer", 0, atomfs_quiet);
	err = atomfs_build_layer(argv[optind], &lo.in, &lo.sq,
				 argv[optind + 1]);
	atomfs_progress_done(lo.sq.progress);
	return err ? cmd_fail(err) : EXIT_OK;
}
