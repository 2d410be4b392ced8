#pragma once
#include <hdf5.h>

/* HDF5's type and property-list names are macros that call into the library (H5T_NATIVE_FLOAT is
 * `(H5OPEN H5T_NATIVE_FLOAT_g)`), which Swift cannot import: these functions hand them over. */
static inline hid_t sequent_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t sequent_h5t_c_s1(void) { return H5T_C_S1; }
static inline hid_t sequent_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t sequent_h5s_all(void) { return H5S_ALL; }
static inline hid_t sequent_h5e_default(void) { return H5E_DEFAULT; }
static inline unsigned sequent_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned sequent_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline hid_t sequent_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t sequent_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t sequent_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }

/* Library errors are reported through return values; HDF5 would otherwise print its error stack to stderr. */
static inline void sequent_h5_silence(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
