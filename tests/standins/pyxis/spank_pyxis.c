/*
 * Stand-in for NVIDIA's pyxis SPANK plugin, for the lab (pyxis's source is on GitHub, which the lab cannot reach).
 * Like pyxis it is built on the node against the node's own Slurm headers and loaded by srun and slurmstepd through
 * plugstack.conf, and it registers pyxis's --container-image option. It starts no container (no image registry is
 * reachable here): on each node of a job step that asked for an image it runs `enroot version` and records the
 * image, the plugin's arguments and enroot's answer in <runtime_path>/standin.log. A step whose node has no enroot
 * fails, as pyxis's would.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slurm/spank.h>

SPANK_PLUGIN(pyxis, 1);

static char *image = NULL;

static int set_image(int val, const char *optarg, int remote)
{
	(void)val;
	(void)remote;
	free(image);
	image = strdup(optarg);
	return image ? 0 : -1;
}

struct spank_option spank_options[] = {
	{ "container-image", "[USER@][REGISTRY#]IMAGE[:TAG]|PATH",
	  "[pyxis] the image to run the job step in (lab stand-in: recorded, not started)", 1, 0, set_image },
	SPANK_OPTIONS_TABLE_END
};

int slurm_spank_user_init(spank_t sp, int ac, char **av)
{
	char runtime[256] = "/run/pyxis", version[64] = "", log[300];
	uint32_t job = 0;
	FILE *enroot, *out;

	if (image == NULL || !spank_remote(sp))
		return 0;
	for (int i = 0; i < ac; i++)
		if (strncmp(av[i], "runtime_path=", 13) == 0)
			snprintf(runtime, sizeof(runtime), "%s", av[i] + 13);
	spank_get_item(sp, S_JOB_ID, &job);
	enroot = popen("enroot version 2>/dev/null", "r");
	if (enroot == NULL || fgets(version, sizeof(version), enroot) == NULL) {
		slurm_error("pyxis: enroot version failed: is enroot installed on this node?");
		if (enroot)
			pclose(enroot);
		return -1;
	}
	pclose(enroot);
	version[strcspn(version, "\n")] = 0;
	snprintf(log, sizeof(log), "%s/standin.log", runtime);
	out = fopen(log, "a");
	if (out == NULL) {
		slurm_error("pyxis: cannot write %s", log);
		return -1;
	}
	fprintf(out, "job=%u image=%s runtime_path=%s enroot=%s\n", job, image, runtime, version);
	fclose(out);
	return 0;
}
