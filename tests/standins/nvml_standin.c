/*
 * A stand-in libnvidia-ml.so.1 for the booted-node lab: pynvml loads it exactly as it loads NVIDIA's
 * (CDLL("libnvidia-ml.so.1"), then one symbol per call). It implements only the calls gpucloud's health
 * check makes, with NVML's real signatures, return codes and struct layouts (nvml.h as mirrored by
 * nvidia-ml-py 13.x), and answers from the node's state the way the real driver does:
 *
 *   - the library version is compiled in (-DSTANDIN_DRIVER_VERSION), as it ships inside a driver package;
 *   - the loaded kernel driver's version is what a boot-time unit recorded in /run (a tmpfs: gone at
 *     reboot); none recorded -> NVML_ERROR_DRIVER_NOT_LOADED, a different one -> NVML_ERROR_LIB_RM_VERSION_MISMATCH
 *     (an upgrade without a reboot);
 *   - persistence mode is on only while nvidia-persistenced runs with --persistence-mode (its pid file and
 *     mode file, which the stand-in daemon keeps and its unit's ExecStopPost removes);
 *   - on NVSwitch SKUs the GPU fabric is "completed" only while nv-fabricmanager runs;
 *   - the GPUs themselves ("hardware") come from /etc/nvidia-standin/gpus.conf, written by the lab, and
 *     faults injected per node from /etc/nvidia-standin/faults.conf.
 * Nothing here talks to a device; nothing outside these files is read.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#ifndef STANDIN_DRIVER_VERSION
#error "build with -DSTANDIN_DRIVER_VERSION=\"580.105.08\""
#endif

typedef int nvmlReturn_t;
typedef struct standin_gpu *nvmlDevice_t;

enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
    NVML_ERROR_UNKNOWN = 999,
};

#define HARDWARE "/etc/nvidia-standin/gpus.conf"
#define FAULTS "/etc/nvidia-standin/faults.conf"
#define LOADED "/run/nvidia-standin/loaded-driver-version"
#define PERSISTENCED_PID "/run/nvidia-persistenced/nvidia-persistenced.pid"
#define PERSISTENCE_MODE "/run/nvidia-persistenced/persistence-mode"
#define FABRICMANAGER_PID "/run/nvidia-fabricmanager/nv-fabricmanager.pid"
#define MAX_GPUS 16

struct standin_gpu {
    unsigned index;
    int lost;
    unsigned long long ecc_uncorrected;
    int row_remap_failed;
    int row_remap_pending;
};

static struct {
    int initialised;
    unsigned count;
    char name[96];
    unsigned long long memory_mib;
    unsigned nvlinks;
    int nvswitch;
    unsigned pcie_gen;
    unsigned pcie_width;
    struct standin_gpu gpus[MAX_GPUS];
} node;

/* The value of `key` in a key=value file, or NULL. */
static const char *lookup(const char *path, const char *key, char *out, size_t size) {
    FILE *f = fopen(path, "r");
    char line[256];
    size_t len = strlen(key);
    const char *found = NULL;
    if (!f) return NULL;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, len) == 0 && line[len] == '=') {
            snprintf(out, size, "%s", line + len + 1);
            out[strcspn(out, "\r\n")] = '\0';
            found = out;
        }
    }
    fclose(f);
    return found;
}

static unsigned long long number(const char *path, const char *key, unsigned long long fallback) {
    char value[64];
    return lookup(path, key, value, sizeof value) ? strtoull(value, NULL, 10) : fallback;
}

static int read_first_line(const char *path, char *out, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    if (!fgets(out, (int)size, f)) out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return 1;
}

/* Whether the daemon whose pid file this is runs now (a stale pid file is not a running daemon). */
static int running(const char *pidfile) {
    char text[32];
    long pid;
    if (!read_first_line(pidfile, text, sizeof text)) return 0;
    pid = strtol(text, NULL, 10);
    return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

nvmlReturn_t nvmlInitWithFlags(unsigned flags) {
    char loaded[64], key[64];
    unsigned i, missing;
    (void)flags;
    if (!read_first_line(LOADED, loaded, sizeof loaded)) return NVML_ERROR_DRIVER_NOT_LOADED;
    if (strcmp(loaded, STANDIN_DRIVER_VERSION) != 0) return NVML_ERROR_LIB_RM_VERSION_MISMATCH;
    if (!lookup(HARDWARE, "name", node.name, sizeof node.name)) return NVML_ERROR_DRIVER_NOT_LOADED;
    node.count = (unsigned)number(HARDWARE, "count", 0);
    missing = (unsigned)number(FAULTS, "gpus_missing", 0);  /* fallen off the bus: not even counted */
    node.count = missing >= node.count ? 0 : node.count - missing;
    if (node.count > MAX_GPUS) node.count = MAX_GPUS;
    node.memory_mib = number(HARDWARE, "memory_mib", 0);
    node.nvlinks = (unsigned)number(HARDWARE, "nvlinks", 0);
    node.nvswitch = (int)number(HARDWARE, "nvswitch", 0);
    node.pcie_gen = (unsigned)number(HARDWARE, "pcie_gen", 4);
    node.pcie_width = (unsigned)number(HARDWARE, "pcie_width", 16);
    for (i = 0; i < node.count; i++) {
        struct standin_gpu *gpu = &node.gpus[i];
        gpu->index = i;
        snprintf(key, sizeof key, "gpu%u.lost", i);
        gpu->lost = (int)number(FAULTS, key, 0);
        snprintf(key, sizeof key, "gpu%u.ecc_uncorrected", i);
        gpu->ecc_uncorrected = number(FAULTS, key, 0);
        snprintf(key, sizeof key, "gpu%u.row_remap_failed", i);
        gpu->row_remap_failed = (int)number(FAULTS, key, 0);
        snprintf(key, sizeof key, "gpu%u.row_remap_pending", i);
        gpu->row_remap_pending = (int)number(FAULTS, key, 0);
    }
    node.initialised = 1;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }

nvmlReturn_t nvmlShutdown(void) {
    if (!node.initialised) return NVML_ERROR_UNINITIALIZED;
    node.initialised = 0;
    return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t result) {
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "RM has detected an NVML/RM version mismatch.";
    default: return "Unknown Error";
    }
}

static nvmlReturn_t copy_text(const char *text, char *out, unsigned length) {
    if (!out) return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(text) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(out, text);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned length) {
    if (!node.initialised) return NVML_ERROR_UNINITIALIZED;
    return copy_text(STANDIN_DRIVER_VERSION, version, length);
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned *count) {
    if (!node.initialised) return NVML_ERROR_UNINITIALIZED;
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    *count = node.count;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned index, nvmlDevice_t *device) {
    if (!node.initialised) return NVML_ERROR_UNINITIALIZED;
    if (!device || index >= node.count) return NVML_ERROR_INVALID_ARGUMENT;
    if (node.gpus[index].lost) return NVML_ERROR_GPU_IS_LOST;
    *device = &node.gpus[index];
    return NVML_SUCCESS;
}

/* Every per-device call starts here: initialised, a handle of ours, a GPU still on the bus. */
#define DEVICE_CALL(device, out)                                         \
    do {                                                                 \
        if (!node.initialised) return NVML_ERROR_UNINITIALIZED;          \
        if (!(device) || !(out)) return NVML_ERROR_INVALID_ARGUMENT;     \
        if ((device)->lost) return NVML_ERROR_GPU_IS_LOST;               \
    } while (0)

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned length) {
    DEVICE_CALL(device, name);
    return copy_text(node.name, name, length);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned length) {
    char text[80];
    DEVICE_CALL(device, uuid);
    snprintf(text, sizeof text, "GPU-5a4d0000-0000-4000-8000-%012u", device->index);
    return copy_text(text, uuid, length);
}

typedef struct {
    char busIdLegacy[16];
    unsigned domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci) {
    DEVICE_CALL(device, pci);
    memset(pci, 0, sizeof *pci);
    pci->bus = 0x10 + device->index;
    pci->pciDeviceId = 0x233010de;
    snprintf(pci->busId, sizeof pci->busId, "00000000:%02X:00.0", pci->bus);
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "0000:%02X:00.0", pci->bus);
    return NVML_SUCCESS;
}

typedef struct {
    unsigned long long total, free, used;
} nvmlMemory_t;

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    DEVICE_CALL(device, memory);
    memory->total = node.memory_mib * 1024ULL * 1024ULL;
    memory->used = 0;
    memory->free = memory->total;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t device, int *mode) {
    char text[8];
    DEVICE_CALL(device, mode);
    *mode = running(PERSISTENCED_PID) && read_first_line(PERSISTENCE_MODE, text, sizeof text) && text[0] == '1';
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetEccMode(nvmlDevice_t device, int *current, int *pending) {
    DEVICE_CALL(device, current);
    if (!pending) return NVML_ERROR_INVALID_ARGUMENT;
    *current = *pending = 1;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, int errorType, int counterType,
                                         unsigned long long *count) {
    DEVICE_CALL(device, count);
    (void)counterType;
    *count = errorType == 1 ? device->ecc_uncorrected : 0; /* 1: NVML_MEMORY_ERROR_TYPE_UNCORRECTED */
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t device, unsigned *corrected, unsigned *uncorrected,
                                       unsigned *pending, unsigned *failed) {
    DEVICE_CALL(device, corrected);
    if (!uncorrected || !pending || !failed) return NVML_ERROR_INVALID_ARGUMENT;
    *corrected = 0;
    *uncorrected = device->row_remap_failed ? 1 : 0;
    *pending = (unsigned)device->row_remap_pending;
    *failed = (unsigned)device->row_remap_failed;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetRetiredPagesPendingStatus(nvmlDevice_t device, int *pending) {
    DEVICE_CALL(device, pending);
    *pending = 0;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t device, unsigned link, int *active) {
    DEVICE_CALL(device, active);
    if (node.nvlinks == 0) return NVML_ERROR_NOT_SUPPORTED;
    if (link >= node.nvlinks) return NVML_ERROR_INVALID_ARGUMENT;
    *active = 1;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetNvLinkErrorCounter(nvmlDevice_t device, unsigned link, int counter,
                                             unsigned long long *value) {
    DEVICE_CALL(device, value);
    (void)counter;
    if (link >= node.nvlinks) return NVML_ERROR_INVALID_ARGUMENT;
    *value = 0;
    return NVML_SUCCESS;
}

/* The PCIe link: running at its maximum generation and width (the stand-in's links never train down). */
#define PCIE_GETTER(name, field)                                  \
    nvmlReturn_t name(nvmlDevice_t device, unsigned *value) {     \
        DEVICE_CALL(device, value);                               \
        *value = node.field;                                      \
        return NVML_SUCCESS;                                      \
    }
PCIE_GETTER(nvmlDeviceGetCurrPcieLinkGeneration, pcie_gen)
PCIE_GETTER(nvmlDeviceGetMaxPcieLinkGeneration, pcie_gen)
PCIE_GETTER(nvmlDeviceGetCurrPcieLinkWidth, pcie_width)
PCIE_GETTER(nvmlDeviceGetMaxPcieLinkWidth, pcie_width)

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned *value) {
    DEVICE_CALL(device, value);
    if (sensor != 0) return NVML_ERROR_INVALID_ARGUMENT; /* 0: NVML_TEMPERATURE_GPU */
    *value = 34;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTemperatureThreshold(nvmlDevice_t device, int threshold, unsigned *value) {
    DEVICE_CALL(device, value);
    *value = threshold == 0 ? 92 : 87; /* 0: SHUTDOWN, 1: SLOWDOWN */
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device, unsigned long long *reasons) {
    DEVICE_CALL(device, reasons);
    *reasons = 0x1; /* GPU idle */
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device, unsigned long long *reasons) {
    return nvmlDeviceGetCurrentClocksEventReasons(device, reasons);
}

typedef struct {
    unsigned char clusterUuid[16];
    nvmlReturn_t status;
    unsigned cliqueId;
    unsigned state;
} nvmlGpuFabricInfo_t;

nvmlReturn_t nvmlDeviceGetGpuFabricInfo(nvmlDevice_t device, nvmlGpuFabricInfo_t *info) {
    DEVICE_CALL(device, info);
    if (!node.nvswitch) return NVML_ERROR_NOT_SUPPORTED;
    memset(info, 0, sizeof *info);
    if (running(FABRICMANAGER_PID)) {
        info->state = 3; /* NVML_GPU_FABRIC_STATE_COMPLETED */
        info->status = NVML_SUCCESS;
    } else {
        info->state = 1; /* NVML_GPU_FABRIC_STATE_NOT_STARTED */
        info->status = NVML_ERROR_UNKNOWN;
    }
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned *current, unsigned *pending) {
    DEVICE_CALL(device, current);
    if (!pending) return NVML_ERROR_INVALID_ARGUMENT;
    *current = *pending = 0;
    return NVML_SUCCESS;
}
