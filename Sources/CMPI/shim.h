#pragma once
// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are macros over addresses of
// globals, which Swift cannot import; these inline functions return them.
#include <mpi.h>

static inline MPI_Comm moe_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm moe_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype moe_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype moe_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype moe_mpi_int(void) { return MPI_INT; }
static inline MPI_Datatype moe_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op moe_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op moe_mpi_max(void) { return MPI_MAX; }
static inline MPI_Errhandler moe_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int moe_mpi_success(void) { return MPI_SUCCESS; }
static inline int moe_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int moe_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline void *moe_mpi_in_place(void) { return MPI_IN_PLACE; }
