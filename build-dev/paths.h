#define BROADSIDE_DATADIR "/usr/local/share/broadside"
#define BROADSIDE_SYSCONFDIR "/etc"
#define BROADSIDE_VERSION "0.1.0"
